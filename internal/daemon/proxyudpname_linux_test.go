package daemon_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

// udpTrackerName is the UDP tracker's host name in
// TestProxyUDPTrackerName.
const udpTrackerName = "udp-tracker.lodestone.test"

// TestProxyUDPTrackerName: a UDP tracker named by a host name, behind the
// proxy (issue 18). The name means two places: in the daemon's own
// /etc/hosts (a copy bind-mounted in the test's mount namespace) a decoy
// on 127.0.0.66 that counts datagrams; in dante's (dantetest.Options.Hosts)
// the real tracker on 127.0.0.8, on the same port. Whatever reaches the
// decoy was resolved here.
//
//   - native core: announces reach the real tracker, every datagram from
//     dante's relay, and the decoy none: the name went to the proxy.
//   - anacrolix core, which resolves a UDP tracker's name itself: the
//     tracker is withheld (task.trackers shows why), one alert says so,
//     and neither the decoy nor the tracker gets a datagram; the download
//     completes through the proxy anyway.
func TestProxyUDPTrackerName(t *testing.T) {
	dantetest.Require(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TestProxyUDPTrackerName needs root (a mount namespace of its own)")
		}
		t.Skip("needs root: run it in a namespace (unshare --net --mount --map-root-user)")
	}
	if runInOwnNetns(t, "TestProxyUDPTrackerName", "--mount", "--propagation", "private") {
		return
	}
	netRun(t, "ip", "link", "set", "lo", "up")

	sw := startProxySwarm(t, enginetest.Content{Name: "named.bin", Size: 1_000_003, Seed: 186})
	_, port, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(sw.udpTracker.URL, "udp://"), "/announce"))
	if err != nil {
		t.Fatal(err)
	}
	decoy, err := net.ListenPacket("udp4", net.JoinHostPort("127.0.0.66", port))
	if err != nil {
		t.Fatal(err)
	}
	var decoyGot atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := decoy.ReadFrom(buf); err != nil {
				return
			}
			decoyGot.Add(1)
		}
	}()
	t.Cleanup(func() { decoy.Close(); <-done })
	// dante first: its copy of /etc/hosts is made from the real one.
	d := dantetest.StartWith(t, dantetest.Options{Hosts: "127.0.0.8 " + udpTrackerName})
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(ours, append(hosts, "\n127.0.0.66 "+udpTrackerName+"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "--bind", ours, "/etc/hosts").CombinedOutput(); err != nil {
		t.Fatalf("mount --bind hosts: %v: %s", err, out)
	}
	// The test itself resolves the name to the decoy: so would the daemon.
	if addrs, err := net.LookupHost(udpTrackerName); err != nil || len(addrs) != 1 || addrs[0] != "127.0.0.66" {
		t.Fatalf("%s resolves here to %v, %v; want the decoy 127.0.0.66", udpTrackerName, addrs, err)
	}

	dm := proxyDaemon(t, d.URL())
	c := dm.Client(t)
	named := "udp://" + net.JoinHostPort(udpTrackerName, port) + "/announce"
	res := sw.add(t, c, sw.httpURL, named)

	if daemontest.Core() == "anacrolix" {
		waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching("", "UDP trackers named by a host name are skipped"))
		waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
		enginetest.SameFiles(t, sw.tr, dm.Dirs.Download)
		requireFromProxy(t, d, "the seeder", sw.seedFront)
		trs, err := c.TaskTrackers(ctxT(t, 10*time.Second), res.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, tr := range trs {
			if tr.URL == named {
				found = true
				if !strings.Contains(tr.LastError, "outside the proxy") {
					t.Errorf("the withheld tracker shows %+v, want why", tr)
				}
			}
		}
		if !found {
			t.Errorf("task.trackers %+v does not list %s", trs, named)
		}
		if n := len(sw.udpTracker.Sources()); n != 0 {
			t.Errorf("the withheld UDP tracker got %d datagrams", n)
		}
	} else {
		for deadline := time.Now().Add(60 * time.Second); sw.udpTracker.Announces() == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no announce reached the UDP tracker through the proxy; dante's log:\n%s", d.Log())
			}
		}
		for _, src := range sw.udpTracker.Sources() {
			if !strings.HasPrefix(src, "127.0.0.1:") {
				t.Errorf("the UDP tracker got a datagram from %s, not from the proxy's relay", src)
			}
		}
		waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
		enginetest.SameFiles(t, sw.tr, dm.Dirs.Download)
	}
	if n := decoyGot.Load(); n != 0 {
		t.Errorf("the decoy got %d datagrams: the tracker's name was resolved here, not by the proxy", n)
	}
}
