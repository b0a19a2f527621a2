package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// bulkCall calls method with params and decodes its TaskBulkResult.
func bulkCall(t *testing.T, c *client.Client, method string, params any) []api.TaskBulkItem {
	t.Helper()
	var res api.TaskBulkResult
	if err := c.Call(ctxT(t, 30*time.Second), method, params, &res); err != nil {
		t.Fatalf("%s %+v: %v", method, params, err)
	}
	if res.Results == nil {
		t.Fatalf("%s %+v: no results array", method, params)
	}
	return res.Results
}

// okItems are the results of a bulk call that succeeded for every id.
func okItems(ids ...string) []api.TaskBulkItem {
	items := make([]api.TaskBulkItem, len(ids))
	for i, id := range ids {
		items[i] = api.TaskBulkItem{TaskID: id}
	}
	return items
}

// TestBulk drives the select form of task.pause, task.resume, task.set,
// task.recheck and task.remove over the WebSocket API against four real
// tasks in two categories with two labels, their data on disk: each
// select acts on exactly the tasks it names, oldest first; an unknown id
// gets its own task_not_found entry while the others succeed; a select
// matching nothing answers []; bad selects are refused as invalid params;
// remove with delete_data deletes the files of the selected tasks only;
// and the task_id form answers exactly as before.
func TestBulk(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	dl := d.Dirs.Download
	for _, name := range []string{"films", "tv"} {
		if _, err := c.SetCategory(ctxT(t, 5*time.Second), api.Category{Name: name, SavePath: name}); err != nil {
			t.Fatal(err)
		}
	}

	// a and b are films, c and d tv; a and c are labelled x, b and d y.
	// Their content is put where each will download, so that each has
	// files of its own on disk.
	var ids, files []string
	for i, cat := range []string{"films", "films", "tv", "tv"} {
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("bulk-%d.bin", i), Size: 50_000 + int64(i)*777, Seed: uint64(170 + i)})
		data, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dl, cat, tr.Name)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		label := []string{"x", "y"}[i%2]
		res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{
			Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo),
			Paused: true, Labels: []string{label}, Category: cat,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.TaskID)
		files = append(files, file)
	}
	a, b, cc, dd := ids[0], ids[1], ids[2], ids[3]
	paused := func(tk api.Task) bool { return tk.State == api.StatePaused }
	running := func(tk api.Task) bool { return tk.State != api.StatePaused }

	// Resume all: every task, oldest first.
	if got := bulkCall(t, c, api.MethodTaskResume, map[string]any{"select": api.TaskSelect{All: true}}); !slices.Equal(got, okItems(a, b, cc, dd)) {
		t.Errorf("task.resume all = %+v", got)
	}
	for _, id := range ids {
		waitTask(t, c, id, "resumed", 30*time.Second, running)
	}

	// Pause by label: a and c only.
	if got := bulkCall(t, c, api.MethodTaskPause, map[string]any{"select": api.TaskSelect{Label: "x"}}); !slices.Equal(got, okItems(a, cc)) {
		t.Errorf("task.pause label x = %+v", got)
	}
	waitTask(t, c, a, "paused", 30*time.Second, paused)
	waitTask(t, c, cc, "paused", 30*time.Second, paused)
	for _, id := range []string{b, dd} {
		if tk := stateOf(t, c, id); tk.State == api.StatePaused {
			t.Errorf("task %s of label y paused by a pause of label x", id)
		}
	}

	// Set labels by state: the paused ones, a and c.
	if got := bulkCall(t, c, api.MethodTaskSet, map[string]any{"select": api.TaskSelect{State: api.StatePaused}, "labels": []string{"held"}}); !slices.Equal(got, okItems(a, cc)) {
		t.Errorf("task.set state paused = %+v", got)
	}
	for i, id := range ids {
		want := []string{"held", "y"}[i%2]
		if tk := stateOf(t, c, id); !slices.Equal(tk.Labels, []string{want}) {
			t.Errorf("task %d labels %q, want [%s]", i, tk.Labels, want)
		}
	}

	// Recheck by ids, one unknown: its entry has task_not_found, in the
	// order given, and the others succeed.
	unknown := "0123456789abcdef0123456789abcdef01234567"
	got := bulkCall(t, c, api.MethodTaskRecheck, map[string]any{"select": api.TaskSelect{TaskIDs: []string{b, unknown, a, b}}})
	if len(got) != 3 || got[0] != (api.TaskBulkItem{TaskID: b}) || got[2] != (api.TaskBulkItem{TaskID: a}) ||
		got[1].TaskID != unknown || got[1].Error != api.CodeTaskNotFound || got[1].Message == "" {
		t.Errorf("task.recheck ids = %+v", got)
	}
	// task_ids with another criterion filters those ids.
	if got := bulkCall(t, c, api.MethodTaskPause, map[string]any{"select": api.TaskSelect{TaskIDs: []string{a, b, dd}, Category: "tv"}}); !slices.Equal(got, okItems(dd)) {
		t.Errorf("task.pause ids in tv = %+v", got)
	}
	// A select matching no task.
	if got := bulkCall(t, c, api.MethodTaskResume, map[string]any{"select": api.TaskSelect{Label: "none"}}); len(got) != 0 {
		t.Errorf("task.resume of no task = %+v", got)
	}

	// Bad selects are refused, and act on nothing.
	for _, bad := range []string{
		`{"select":{}}`, `{"select":{"all":false}}`, `{"select":{"task_ids":[]}}`, `{"select":{"state":"asleep"}}`,
		`{"select":{"all":true},"task_id":"` + a + `"}`, `{"select":[]}`, `{"select":{"label":7}}`,
	} {
		for _, m := range []string{api.MethodTaskPause, api.MethodTaskResume, api.MethodTaskRemove, api.MethodTaskRecheck, api.MethodTaskSet} {
			var ae *api.Error
			if err := c.Call(ctxT(t, 5*time.Second), m, json.RawMessage(bad), nil); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
				t.Errorf("%s %s: %v, want invalid_params", m, bad, err)
			}
		}
	}
	if n := len(listTasks(t, c)); n != 4 {
		t.Fatalf("bad selects left %d tasks, want 4", n)
	}

	// Remove the tv tasks with their data: c's and d's files go, a's
	// and b's stay; an event for each.
	if got := bulkCall(t, c, api.MethodTaskRemove, map[string]any{"select": api.TaskSelect{Category: "tv"}, "delete_data": true}); !slices.Equal(got, okItems(cc, dd)) {
		t.Errorf("task.remove category tv = %+v", got)
	}
	for _, id := range []string{cc, dd} {
		ev := waitEvent(t, c, api.EventTaskRemoved, 30*time.Second, forTask(id))
		if data := decode[api.TaskRemovedData](t, ev.Data); !data.DataDeleted {
			t.Errorf("task.removed %s: %+v", id, data)
		}
	}
	for i, f := range files {
		_, err := os.Stat(f)
		if gone := errors.Is(err, os.ErrNotExist); gone != (i >= 2) {
			t.Errorf("file of task %d after removing tv with its data: %v", i, err)
		}
	}
	var left []string
	for _, tk := range listTasks(t, c) {
		left = append(left, tk.TaskID)
	}
	if !slices.Equal(left, []string{a, b}) {
		t.Errorf("tasks left %v, want [%s %s]", left, a, b)
	}

	// The task_id form answers as before: {} and a task, or the error.
	var raw json.RawMessage
	if err := c.Call(ctxT(t, 5*time.Second), api.MethodTaskPause, api.TaskIDParams{TaskID: b}, &raw); err != nil || string(raw) != "{}" {
		t.Errorf("task.pause task_id = %s, %v", raw, err)
	}
	var ae *api.Error
	if err := c.Call(ctxT(t, 5*time.Second), api.MethodTaskResume, api.TaskIDParams{TaskID: unknown}, &raw); !errors.As(err, &ae) || ae.Code != api.CodeTaskNotFound {
		t.Errorf("task.resume unknown task_id: %v, want task_not_found", err)
	}
	var tk api.Task
	if err := c.Call(ctxT(t, 5*time.Second), api.MethodTaskSet, map[string]any{"task_id": a, "labels": []string{"one"}}, &tk); err != nil || tk.TaskID != a || !slices.Equal(tk.Labels, []string{"one"}) {
		t.Errorf("task.set task_id = %+v, %v", tk, err)
	}
}
