package daemon_test

import (
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// TestBindInterfaceRecreated: bt0 (bind_linux_test.go's namespaces) is
// deleted and created again under the same name, as `wg-quick down; up`
// does: another device, another index. The daemon, bound to bt0, binds
// its listener to the new device without a restart: a connection from
// the peer namespace to its peer port is accepted before, and accepted
// again after, once the alert says the sockets were bound to the new
// bt0. (A listener still bound to the old
// index would never see the new bt0's connections: the kernel answers
// them with a reset.)
func TestBindInterfaceRecreated(t *testing.T) {
	needBindTools(t)
	if runInOwnNetns(t, "TestBindInterfaceRecreated") {
		return
	}
	peerNS := bindNets(t)
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.BindInterface = "bt0"
	}})
	c := d.Client(t)
	_, port, err := net.SplitHostPort(d.PeerAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	// connect reports whether a TCP connection from the peer namespace
	// to the daemon's peer port on 198.18.0.1 is accepted.
	connect := func() bool {
		t.Helper()
		cmd := exec.Command("nsenter", "--net="+peerNS, "timeout", "5", "bash", "-c", "exec 3<>/dev/tcp/198.18.0.1/"+port)
		return cmd.Run() == nil
	}
	if !connect() {
		t.Fatal("the daemon's listener refuses a connection over bt0 before anything happened")
	}

	netRun(t, "ip", "link", "del", "bt0") // its peer bt0p goes with it
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelError && strings.Contains(a.Message, "network down") && strings.Contains(a.Message, "not found")
	})
	netRun(t, "ip", "link", "add", "bt0", "type", "veth", "peer", "name", "bt0p", "netns", peerNS)
	netRun(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "bt0")
	netRun(t, "ip", "link", "set", "bt0", "up")
	netRun(t, "nsenter", "--net="+peerNS, "sh", "-ec", `
		ip addr add 198.18.0.2/24 dev bt0p
		ip link set bt0p up`)
	ev := waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && strings.Contains(a.Message, "created again")
	})
	a := decode[api.EngineAlertData](t, ev.Data)
	if a.Level != api.LevelInfo || !strings.Contains(a.Message, "bound to the new one") {
		t.Fatalf("alert %+v: want the sockets bound to the new bt0", a)
	}
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, alertMatching("", "network back"))
	// The new veth may take a moment to carry traffic (carrier).
	var ok bool
	for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		ok = connect()
	}
	if !ok {
		t.Fatal("after bt0 was created again, the daemon's listener refuses connections over it: still bound to the old device")
	}
	if !t.Failed() {
		t.Logf("alert: %s", a.Message)
	}
}
