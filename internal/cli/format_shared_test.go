package cli

import (
	"encoding/json"
	"os"
	"testing"
)

// TestFormatBytesShared checks formatBytes against the cases the web UI's
// size() is checked against too (web/testdata/formats.json, in
// internal/daemon's TestWebUIFirstUse): a task's size reads the same in
// `lodestone ls` and in the browser (issue 19).
func TestFormatBytesShared(t *testing.T) {
	data, err := os.ReadFile("../../web/testdata/formats.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Bytes [][2]json.RawMessage `json:"bytes"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Bytes) == 0 {
		t.Fatal("no cases in formats.json")
	}
	for _, c := range f.Bytes {
		var n int64
		var want string
		if err := json.Unmarshal(c[0], &n); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(c[1], &want); err != nil {
			t.Fatal(err)
		}
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
