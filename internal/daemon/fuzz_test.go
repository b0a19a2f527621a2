package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// fuzzMethods is every method of the API.
var fuzzMethods = []string{
	api.MethodTaskAdd, api.MethodTaskList, api.MethodTaskGet, api.MethodTaskPause,
	api.MethodTaskResume, api.MethodTaskRemove, api.MethodTaskRecheck, api.MethodTaskSet,
	api.MethodTaskFiles, api.MethodTaskPeers, api.MethodTaskMove, api.MethodTaskTrackers,
	api.MethodTaskAddTrackers, api.MethodTaskRemoveTrackers, api.MethodSessionStats,
	api.MethodSessionGet, api.MethodSessionSet, api.MethodEventsSubscribe,
	api.MethodEventsReplay, api.MethodServerInfo, api.MethodCategoryList,
	api.MethodCategorySet, api.MethodCategoryRemove, api.MethodTaskExport,
	api.MethodKeyCreate, api.MethodKeyList, api.MethodKeyRevoke,
	// RSS, but rss.add: a fuzzed URL could lead off this machine.
	api.MethodRSSList, api.MethodRSSRemove, api.MethodRSSRefresh, api.MethodRSSItems,
	api.MethodRSSRuleSet, api.MethodRSSRuleList, api.MethodRSSRuleRemove, api.MethodRSSPreview,
	// Webhooks, but webhook.add, for the same reason (its params are
	// checked by TestWebhookRefusals).
	api.MethodWebhookList, api.MethodWebhookRemove, api.MethodWebhookDeliveries,
}

// FuzzParams sends every method arbitrary params through a real daemon
// (real store and engine, loopback only). Whatever the params, the daemon
// answers that very request with success or a documented client error —
// never 500, never a crash, never a dropped connection.
func FuzzParams(f *testing.F) {
	tr := enginetest.Generate(f, enginetest.Content{Name: "fuzz.bin", Size: 40_000, Seed: 99})
	id := tr.InfoHash
	seeds := []string{
		`{}`, `null`, `[]`, `{"task_id":"` + id + `"}`, `{"task_id":"` + id + `","labels":["a"],"sequential":true}`,
		`{"task_id":"` + id + `","files":{"0":"skip"}}`, `{"task_id":"` + id + `","download_limit":-1}`,
		`{"type":"torrent","data":"` + base64.StdEncoding.EncodeToString(tr.MetaInfo) + `","paused":true}`,
		`{"type":"magnet","data":"magnet:?xt=urn:btih:` + id + `&dn=..%2F..%2Fx"}`,
		`{"type":"url","data":"http://127.0.0.1:1/x.torrent"}`, `{"type":"magnet","data":"magnet:?xt=urn:btih:zz"}`,
		`{"task_id":"` + id + `","download_dir":"/etc"}`, `{"task_id":"` + id + `","urls":["file:///etc/passwd"]}`,
		`{"max_active_downloads":-5,"download_limit":1e300}`, `{"seed_ratio_limit":"NaN"}`,
		`{"events":["task.progress","nope"]}`, `{"after":18446744073709551615}`, `{"after":-1}`,
		`{"state":["downloading"],"fields":["name","bogus"]}`, `{"task_id":"` + id + `","delete_data":true}`,
		`{"name":"tv/hd","save_path":"../../etc","complete_path":"/"}`, `{"name":"\u0000/","save_path":7}`,
		`{"task_id":"` + id + `","category":"nope"}`, `{"type":"magnet","data":"magnet:?xt=urn:btih:` + id + `","category":"tv"}`,
		`{"select":{"all":true}}`, `{"select":{}}`, `{"select":{"task_ids":["` + id + `","zz"],"state":"paused"},"labels":["b"]}`,
		`{"select":{"label":"a","category":"tv"},"delete_data":true}`, `{"select":{"all":true},"task_id":"` + id + `"}`, `{"select":[]}`,
		`{"name":"k","scope":"read"}`, `{"name":"\u0000","scope":"ADMIN"}`, `{"key_id":"` + id + `"}`, `{"key_id":7}`,
		`{"name":"r","include":"(","exclude":"["}`, `{"name":"r","include":"a","feeds":["x"],"category":"nope","enabled":"no"}`,
		`{"rule":"r"}`, `{"rule":{"include":"a","feeds":["x"]}}`, `{"rule":7}`, `{"feed_id":7}`, `{"feed_id":"` + id + `"}`,
		`{"webhook_id":"nope"}`, `{"webhook_id":7}`, `{"webhook_id":""}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	d := daemontest.Start(f, daemontest.Options{})
	ws, _, err := websocket.Dial(context.Background(), d.URL+"?token="+daemontest.Token, nil)
	if err != nil {
		f.Fatal(err)
	}
	ws.SetReadLimit(64 << 20)
	f.Cleanup(func() {
		// Closed already if an input made the daemon close it.
		if err := ws.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
			f.Error(err)
		}
	})
	n := 0
	f.Fuzz(func(t *testing.T, m uint8, params []byte) {
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		if !json.Valid(params) {
			var err error
			if params, err = json.Marshal(string(params)); err != nil { // still a params value: a string
				t.Fatal(err)
			}
		}
		n++
		rid := "fuzz-" + strconv.Itoa(n)
		frame, err := json.Marshal(map[string]any{"id": rid, "method": method, "params": json.RawMessage(params)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
			t.Fatalf("write %s: %v", frame, err)
		}
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("%s %s: connection lost: %v", method, params, err)
			}
			var r struct {
				ID      *string  `json:"id"`
				Name    string   `json:"name"`
				Error   api.Code `json:"error"`
				Message string   `json:"message"`
			}
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatalf("undecodable frame %q", data)
			}
			if r.Name != "" || r.ID == nil || *r.ID != rid {
				continue // an event, or an earlier answer
			}
			if r.Error == api.CodeInternal || r.Error == api.CodeUnavailable {
				t.Fatalf("%s %s: error %d %q", method, params, r.Error, r.Message)
			}
			if r.Error != 0 && r.Message == "" {
				t.Fatalf("%s %s: error %d without a message", method, params, r.Error)
			}
			return
		}
	})
}
