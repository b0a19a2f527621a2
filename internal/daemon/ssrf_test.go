package daemon_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
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
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(internal.URL, "http://"))
	byName := "http://localhost:" + port + "/announce"
	byIP := internal.URL + "/announce"
	tr := enginetest.Generate(t, enginetest.Content{Name: "ssrf.bin", Size: 5000, Seed: 21, Trackers: []string{byIP, byName}})

	d := daemontest.Start(t, daemontest.Options{DenyPrivateTrackers: true})
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	for _, u := range []string{byIP, byName} {
		ev := waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
			var a api.EngineAlertData
			return json.Unmarshal(raw, &a) == nil && strings.Contains(a.Message, u)
		})
		var a api.EngineAlertData
		json.Unmarshal(ev.Data, &a)
		if a.TaskID != res.TaskID || !strings.Contains(a.Message, "not a public address") {
			t.Errorf("alert %+v: want task %s refused as not a public address", a, res.TaskID)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal tracker got %d requests", n)
	}
}
