package apiserver

import (
	"bytes"
	"encoding/json"
	"testing"
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
