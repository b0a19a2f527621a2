package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Every bad message is answered with its code, and the connection keeps
// working afterwards.
func TestBadInputAnswered(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	b64 := base64.StdEncoding.EncodeToString
	cases := []struct {
		name   string
		frame  string
		wantID string
		code   api.Code
	}{
		{"not JSON", `{"id": "1", "method": `, "", api.CodeParseError},
		{"garbage", `hello`, "", api.CodeParseError},
		{"array", `[1,2]`, "", api.CodeInvalidRequest},
		{"no id", `{"method":"task.list","params":{}}`, "", api.CodeInvalidRequest},
		{"numeric id", `{"id":7,"method":"task.list","params":{}}`, "", api.CodeInvalidRequest},
		{"no method", `{"id":"a1","params":{}}`, "a1", api.CodeInvalidRequest},
		{"unknown method", `{"id":"a2","method":"task.explode","params":{}}`, "a2", api.CodeUnknownMethod},
		{"params not object", `{"id":"a3","method":"task.add","params":[1]}`, "a3", api.CodeInvalidParams},
		{"missing params", `{"id":"a4","method":"task.add"}`, "a4", api.CodeInvalidParams},
		{"bad type", `{"id":"a5","method":"task.add","params":{"type":"ftp","data":"x"}}`, "a5", api.CodeInvalidParams},
		{"type not string", `{"id":"a6","method":"task.add","params":{"type":5,"data":"x"}}`, "a6", api.CodeInvalidParams},
		{"bad base64", `{"id":"a7","method":"task.add","params":{"type":"torrent","data":"@@@not base64"}}`, "a7", api.CodeBadTorrent},
		{"not bencode", `{"id":"a8","method":"task.add","params":{"type":"torrent","data":"` + b64([]byte("just text")) + `"}}`, "a8", api.CodeBadTorrent},
		{"deep bencode", `{"id":"a9","method":"task.add","params":{"type":"torrent","data":"` + b64([]byte(strings.Repeat("l", 100000)+strings.Repeat("e", 100000))) + `"}}`, "a9", api.CodeBadTorrent},
		{"no info", `{"id":"a10","method":"task.add","params":{"type":"torrent","data":"` + b64([]byte("d8:announce3:abce")) + `"}}`, "a10", api.CodeBadTorrent},
		{"empty torrent", `{"id":"a11","method":"task.add","params":{"type":"torrent","data":""}}`, "a11", api.CodeBadTorrent},
		{"bad magnet", `{"id":"a12","method":"task.add","params":{"type":"magnet","data":"magnet:?xt=urn:btih:nothex"}}`, "a12", api.CodeBadMagnet},
		{"not a magnet", `{"id":"a13","method":"task.add","params":{"type":"magnet","data":"http://example.invalid/x.torrent"}}`, "a13", api.CodeBadMagnet},
		{"magnet file tracker", `{"id":"a14","method":"task.add","params":{"type":"magnet","data":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=file:///etc/passwd"}}`, "a14", api.CodeBadMagnet},
		{"get unknown", `{"id":"a15","method":"task.get","params":{"task_id":"0123456789abcdef0123456789abcdef01234567"}}`, "a15", api.CodeTaskNotFound},
		{"get no id", `{"id":"a16","method":"task.get","params":{}}`, "a16", api.CodeInvalidParams},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.WriteRaw(ctxT(t, 5*time.Second), []byte(tc.frame)); err != nil {
				t.Fatal(err)
			}
			select {
			case resp := <-c.RawResponses():
				if resp.ID != tc.wantID || resp.Error != tc.code || string(resp.Result) != "null" || resp.Message == "" {
					t.Errorf("got id=%q error=%d result=%s message=%q; want id=%q error=%d, null result and a message",
						resp.ID, resp.Error, resp.Result, resp.Message, tc.wantID, tc.code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no response")
			}
		})
	}
	// Still working.
	if _, err := c.ListTasks(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("task.list after bad input: %v", err)
	}
}

// A response echoes the request id and has the spec's shape exactly.
func TestResponseEnvelope(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ws, _, err := websocket.Dial(ctxT(t, 5*time.Second), d.URL+"?token="+daemontest.Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ws.CloseNow(); err != nil {
			t.Error(err)
		}
	}()
	tr := enginetest.Generate(t, enginetest.Content{Name: "env.bin", Size: 1234, Seed: 9})
	req := `{"id":"unique-request-id","method":"task.add","params":{"type":"torrent","data":"` + base64.StdEncoding.EncodeToString(tr.MetaInfo) + `"}}`
	// Frames sent and read by hand are checked against the schema too.
	validate := daemontest.ValidateFrames(t)
	validate(client.FrameSent, []byte(req))
	if err := ws.Write(ctxT(t, 5*time.Second), websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	// Events (task.added) may come first; the response is the frame
	// without "name".
	var got map[string]json.RawMessage
	var data []byte
	for got == nil || got["name"] != nil {
		_, data, err = ws.Read(ctxT(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		validate(client.FrameReceived, data)
		got = nil
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatal(err)
		}
	}
	if string(got["id"]) != `"unique-request-id"` || string(got["error"]) != "0" || len(got) != 3 {
		t.Fatalf("response %s: want exactly id, error 0 and result", data)
	}
	var res map[string]any
	if err := json.Unmarshal(got["result"], &res); err != nil {
		t.Fatal(err)
	}
	if res["task_id"] != tr.InfoHash || res["name"] != "env.bin" || res["size"] != float64(1234) {
		t.Errorf("result %s", got["result"])
	}
}

func TestHandshakeRefusals(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	host := strings.TrimPrefix(strings.TrimSuffix(d.URL, "/ws"), "ws://")
	cases := []struct {
		name   string
		url    string
		token  string
		header http.Header
		status int
	}{
		{"no token", d.URL, "", nil, http.StatusUnauthorized},
		{"wrong token", d.URL, "wrong", nil, http.StatusUnauthorized},
		{"wrong query token", d.URL + "?token=nope", "", nil, http.StatusUnauthorized},
		{"foreign origin", d.URL, daemontest.Token, http.Header{"Origin": {"http://evil.example"}}, http.StatusForbidden},
		{"null origin", d.URL, daemontest.Token, http.Header{"Origin": {"null"}}, http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.DialOptions(ctxT(t, 5*time.Second), tc.url, tc.token, client.Options{Header: tc.header})
			var he *client.HandshakeError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("dial: %v; want HTTP %d", err, tc.status)
			}
		})
	}
	// DNS rebinding: a page on evil.example whose name now resolves to
	// 127.0.0.1 sends Host and Origin of evil.example, which match each
	// other. The Host check refuses it.
	port := strings.Split(host, ":")[1]
	for _, origin := range []string{"", "http://evil.example:" + port} {
		t.Run("rebound host origin="+origin, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+host+"/ws?token="+daemontest.Token, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "evil.example:" + port
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("HTTP %d, want 403", resp.StatusCode)
			}
		})
	}
	t.Run("query token and same origin accepted", func(t *testing.T) {
		c, err := client.DialOptions(ctxT(t, 5*time.Second), d.URL+"?token="+daemontest.Token, "", client.Options{
			Header: http.Header{"Origin": {"http://" + host}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Error(err)
			}
		})
		if _, err := c.ListTasks(ctxT(t, 5*time.Second)); err != nil {
			t.Fatal(err)
		}
	})
}

// A tracker that refuses connections is reported as engine.alert for its
// task.
func TestTrackerFailureAlert(t *testing.T) {
	dead := "http://" + enginetest.ClosedPort(t) + "/announce"
	tr := enginetest.Generate(t, enginetest.Content{Name: "alert.bin", Size: 5000, Seed: 11, Trackers: []string{dead}})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	a := waitTrackerAlert(t, c, res.TaskID, dead)
	if a.TaskID != res.TaskID || a.Level != api.LevelWarning || !strings.Contains(a.Message, "refused") {
		t.Errorf("alert %+v: want task %s, level warning, a message saying the connection was refused", a, res.TaskID)
	}
}

// Two clients both receive every event, with unique ids.
func TestEventsReachEveryClient(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "both.bin", Size: 200_000, Seed: 12})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c1, c2 := d.Client(t), d.Client(t)
	res := addMagnet(t, c1, tr.Magnet([]string{seeder.Addr}))
	e1 := waitEvent(t, c1, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	e2 := waitEvent(t, c2, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	if e1.ID != e2.ID {
		t.Errorf("the same event has ids %s and %s", e1.ID, e2.ID)
	}
	b, err := json.Marshal(e1)
	if err != nil {
		t.Fatal(err)
	}
	raw := decode[map[string]json.RawMessage](t, b)
	if string(raw["data"]) != `{"task_id":"`+res.TaskID+`"}` {
		t.Errorf("task.finished data %s", raw["data"])
	}
}
