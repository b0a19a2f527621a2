package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitEvent returns the first event named name whose data satisfies match
// (nil: any), failing the test after timeout.
func waitEvent(t *testing.T, c *client.Client, name string, timeout time.Duration, match func(json.RawMessage) bool) api.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection ended waiting for %s: %v", name, c.Err())
			}
			if ev.Name == name && (match == nil || match(ev.Data)) {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %s event within %v", name, timeout)
		}
	}
}

// forTask matches event data whose task_id is id.
func forTask(id string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var d struct {
			TaskID string `json:"task_id"`
		}
		return json.Unmarshal(raw, &d) == nil && d.TaskID == id
	}
}

func addTorrent(t *testing.T, c *client.Client, tr *enginetest.Torrent) api.TaskAddResult {
	t.Helper()
	res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo)})
	if err != nil {
		t.Fatalf("task.add torrent: %v", err)
	}
	return res
}

func addMagnet(t *testing.T, c *client.Client, uri string) api.TaskAddResult {
	t.Helper()
	res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri})
	if err != nil {
		t.Fatalf("task.add magnet: %v", err)
	}
	return res
}

// sameFiles compares the download of tr with its source, byte for byte.
func sameFiles(t *testing.T, tr *enginetest.Torrent, downloadDir string) {
	t.Helper()
	want := enginetest.Hashes(t, tr.Root, tr.Name)
	got := enginetest.Hashes(t, downloadDir, tr.Name)
	if len(got) != len(want) {
		t.Fatalf("downloaded %d files, want %d", len(got), len(want))
	}
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s differs from the source", p)
		}
	}
}

// multiFile is a multi-file torrent with nested dirs, an empty file and
// sizes that do not divide into pieces.
func multiFile(seed uint64) enginetest.Content {
	return enginetest.Content{
		Name: "multi",
		Files: []enginetest.File{
			{Path: "a.bin", Size: 100_003},
			{Path: "dir/b.bin", Size: 65_536},
			{Path: "dir/sub/c.txt", Size: 7},
			{Path: "dir/empty", Size: 0},
			{Path: "z.bin", Size: 1_234_567},
		},
		Seed: seed,
	}
}

// peerAddr returns the daemon's TCP peer address.
func peerAddr(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	for _, a := range d.PeerAddrs() {
		if a.Network() == "tcp" {
			return a.String()
		}
	}
	t.Fatalf("daemon has no TCP peer address: %v", d.PeerAddrs())
	return ""
}

// asCode reports whether err is an *api.Error with the given code.
func asCode(err error, ae **api.Error, code api.Code) bool {
	return errors.As(err, ae) && (*ae).Code == code
}
