package daemon_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// By default a torrent cannot make the daemon announce to a tracker on
// this machine (or its LAN): the connection is refused before it is made,
// reported as an engine.alert, and the tracker sees no request — whether
// it is named by IP or by "localhost" (checked after DNS).
func TestPrivateTrackerRefused(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("d8:intervali60e5:peers0:e"))
	}))
	defer internal.Close()
	_, port, err := net.SplitHostPort(strings.TrimPrefix(internal.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{DenyPrivateTrackers: true})
	c := d.Client(t)
	for i, u := range []string{internal.URL + "/announce", "http://localhost:" + port + "/announce"} {
		// Two names: two tasks cannot share a file (issue 15, item 1).
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("ssrf-%d.bin", i), Size: 5000, Seed: 21 + uint64(i), Trackers: []string{u}})
		res := addTorrent(t, c, tr)
		// The engine may name the tracker by the address it resolved, so
		// the alert is matched by its port.
		a := waitTrackerAlert(t, c, res.TaskID, ":"+port+"/announce", "not a public address")
		t.Logf("%s: %s", u, a.Message)
		// The alert names the setting that allows such a tracker, and
		// stays short: not the whole announce URL with its query
		// (issue 19).
		if !strings.Contains(a.Message, "--allow-private-trackers") || strings.Contains(a.Message, "info_hash=") {
			t.Errorf("alert %q: want it short, naming --allow-private-trackers", a.Message)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal tracker got %d requests", n)
	}
}
