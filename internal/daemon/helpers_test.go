package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
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

// waitTrackerAlert waits for an engine.alert of taskID whose message
// contains every one of parts. Nothing prompts the engine to announce: a
// core that loses an announce must recover by itself (see
// TestAnnounceRecoversBySelf), within the minute allowed here.
func waitTrackerAlert(t *testing.T, c *client.Client, taskID string, parts ...string) api.EngineAlertData {
	t.Helper()
	ev := waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching(taskID, parts...))
	return decode[api.EngineAlertData](t, ev.Data)
}

// addPausedTorrents adds n small paused torrents (variants of one generated
// torrent) and returns their ids.
func addPausedTorrents(t testing.TB, d *daemontest.Daemon, n int) []string {
	t.Helper()
	base := enginetest.Generate(t, enginetest.Content{Name: "base.bin", Size: 40_000, Seed: 63})
	mi := enginetest.Parse(t, base.MetaInfo)
	c := daemontest.Dial(t, d.URL)
	ids := make([]string, n)
	eachConcurrently(t, n, func(ctx context.Context, i int) error {
		data := mi.WithName(fmt.Sprintf("task-%05d.iso", i))
		res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(data), Paused: true, Labels: []string{fmt.Sprintf("group-%d", i%7)}})
		if err != nil {
			return fmt.Errorf("task.add: %w", err)
		}
		ids[i] = res.TaskID
		return nil
	})
	return ids
}

// eachConcurrently runs fn for i from 0 to n-1, 16 at a time, each with a
// 60 s deadline, and fails t with the first error once all have ended.
func eachConcurrently(t testing.TB, n int, fn func(ctx context.Context, i int) error) {
	t.Helper()
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := fn(ctx, i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// waitUntilAPI polls cond (a check through the API) until it holds.
func waitUntilAPI(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		<-tick.C
	}
}

// waitTask polls task id until cond holds and returns it; it fails the
// test if the task cannot be read or cond does not hold within timeout.
func waitTask(t *testing.T, c *client.Client, id, what string, timeout time.Duration, cond func(api.Task) bool) api.Task {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		task := stateOf(t, c, id)
		if cond(task) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; task %+v", what, timeout, task)
		}
		<-tick.C
	}
}

// decode unmarshals an event's data or a result, failing the test if it
// does not decode.
func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s as %T: %v", raw, v, err)
	}
	return v
}

// listTasks returns task.list, failing the test on an error.
func listTasks(t *testing.T, c *client.Client) []api.Task {
	t.Helper()
	tasks, err := c.ListTasks(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatalf("task.list: %v", err)
	}
	return tasks
}

// taskFiles returns task.files of id, failing the test on an error.
func taskFiles(t *testing.T, c *client.Client, id string) []api.TaskFile {
	t.Helper()
	files, err := c.TaskFiles(ctxT(t, 10*time.Second), id)
	if err != nil {
		t.Fatalf("task.files %s: %v", id, err)
	}
	return files
}

// stateOf returns a task's state and error text.
func stateOf(t *testing.T, c *client.Client, id string) api.Task {
	t.Helper()
	task, err := c.GetTask(ctxT(t, 10*time.Second), id)
	if err != nil {
		t.Fatalf("task.get %s: %v", id, err)
	}
	return task
}

// stateTo matches a task.state event of task id changing to state to.
func stateTo(id string, to api.TaskState) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var d api.TaskStateData
		return json.Unmarshal(raw, &d) == nil && d.TaskID == id && d.To == to
	}
}

// match names an event and a test on its data (nil: any).
type match struct {
	name string
	data func(json.RawMessage) bool
}

// waitAll waits until each of ms has matched an event, in any order, and
// returns the events in the order of ms.
func waitAll(t *testing.T, c *client.Client, timeout time.Duration, ms ...match) []api.Event {
	t.Helper()
	got := make([]api.Event, len(ms))
	left := len(ms)
	deadline := time.After(timeout)
	for left > 0 {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection ended: %v", c.Err())
			}
			for i, m := range ms {
				if got[i].Name == "" && ev.Name == m.name && (m.data == nil || m.data(ev.Data)) {
					got[i] = ev
					left--
					break
				}
			}
		case <-deadline:
			for i, m := range ms {
				if got[i].Name == "" {
					t.Errorf("no %s event within %v", m.name, timeout)
				}
			}
			t.FailNow()
		}
	}
	return got
}

// alertMatching matches an engine.alert of task id whose message contains
// every part.
func alertMatching(id string, parts ...string) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var d api.EngineAlertData
		if json.Unmarshal(raw, &d) != nil || d.TaskID != id {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(d.Message, p) {
				return false
			}
		}
		return true
	}
}
