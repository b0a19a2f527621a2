package apiserver

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// FuzzDecodeRequest: any frame is either a valid request or answered
// with a code; never a panic.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","method":"task.list","params":{}}`,
		`{"id":"1","method":"task.add","params":{"type":"magnet","data":"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"}}`,
		`{"id":null,"method":"x"}`, `{"id":1}`, `[]`, `null`, `"x"`, `{`, ``, `{"id":"a","method":"m","params":[1]}`,
		`{"id":"a","method":"m","params":null}`, "{\"id\":\"\\u0000\",\"method\":\"\\ud800\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeRequest(data)
		if err == nil {
			if req.Method == "" || len(req.Params) == 0 || req.Params[0] != '{' {
				t.Fatalf("accepted %q as %+v", data, req)
			}
			return
		}
		code, msg := errorCode(err)
		if code < 100 || code >= 200 || msg == "" {
			t.Fatalf("code %d, message %q for %q: want a 1xx code and a message", code, msg, data)
		}
		// The answer is valid JSON with the envelope's fields.
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(errorResponse(req.ID, err), &resp); err != nil || !bytes.Equal(resp["result"], []byte("null")) {
			t.Fatalf("bad error response for %q: %v", data, err)
		}
	})
}

// FuzzFastDecode: whatever the fast paths accept, the full decoder
// decodes the same way.
func FuzzFastDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","method":"task.get","params":{"task_id":"abc"}}`,
		` { "method" : "session.stats" , "id" : "x" } `,
		`{"id":"1","method":"m","params":null}`,
		`{"id":"1","method":"m","params":{"a":[1,{"b":"}"}],"c":"\"{"}}`,
		`{"id":"1","id":"2","method":"m"}`, `{"id":"1","method":""}`, `{"ID":"1","method":"m"}`,
		`{"id":"é","method":"m"}`, `{"id":"1","method":"m","params":{"task_id":1}}`, `{"id":"1","method":"m"}x`,
		`{"task_id":"abc"}`, ` {"task_id" : "a"} `, `{"task_id":"a","x":1}`, `{"task_id":"a\u0041"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if req, ok := fastRequest(data); ok {
			want, err := fullRequest(data)
			if err != nil || want.ID != req.ID || want.Method != req.Method || !bytes.Equal(want.Params, req.Params) {
				t.Fatalf("fast %q → %+v; full → %+v, %v", data, req, want, err)
			}
		}
		if id, ok := fastTaskID(data); ok {
			var p api.TaskIDParams
			if err := json.Unmarshal(data, &p); err != nil || p.TaskID != id {
				t.Fatalf("fast task_id %q → %q; encoding/json → %q, %v", data, id, p.TaskID, err)
			}
		}
	})
}
