package apiserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// encodeCases are tasks that exercise every field and the escaping rules.
func encodeCases() []api.Task {
	full := api.Task{
		TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "debian-13.iso", Size: 700 << 20,
		Completed: 300 << 20, State: api.StateDownloading, Error: "disk <full> & \"sad\"",
		AddedAt: "2026-11-27T08:00:00.123456789Z", FinishedAt: "2026-11-28T08:00:00Z",
		DownloadRate: 123456, UploadRate: 7, Peers: 12, Downloaded: 1 << 40, Uploaded: 3,
		Ratio: 1.0 / 3, ETASeconds: -1, Pieces: 2800, PieceSize: 256 << 10,
		Labels: []string{"linux", "ünïcode", "a\u2028b"}, DownloadDir: "/srv/dl/x y",
		Sequential: true, DownloadRateLimit: 1 << 20, UploadRateLimit: 5, Category: "films/<hd> & \"x\"",
		Private: true, ActiveAt: "2026-11-28T09:00:00.5Z", SecondsDownloading: 3600, SecondsSeeding: 86400,
		QueuePosition: 7, SeedRatioLimit: 1.5, SeedTimeLimit: -1, SeedIdleLimit: -2,
	}
	weird := full
	weird.Name = "ctl\x00\x01\x1f\b\f\n\r\t\\/\x7f<>&\u2029 bad:\xff\xfe end"
	weird.Labels = []string{}
	weird.Ratio = 1e-7
	weird.Error, weird.FinishedAt, weird.ActiveAt = "", "", ""
	big := full
	big.Ratio = 1e21
	big.Labels = nil
	big.Size, big.ETASeconds = -1<<63, 1<<63-1
	return []api.Task{{}, full, weird, big, {Ratio: 123456789.125, Labels: []string{""}}}
}

func TestAppendTaskMatchesEncodingJSON(t *testing.T) {
	for i, task := range encodeCases() {
		want, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendTask(nil, &task, allTaskFields); !bytes.Equal(got, want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
	tasks := encodeCases()
	want, _ := json.Marshal(api.TaskListResult{Tasks: tasks})
	if got := appendTaskList(nil, tasks, allTaskFields); !bytes.Equal(got, want) {
		t.Errorf("list:\n got %s\nwant %s", got, want)
	}
}

// TestTaskFieldsCoverTask fails when api.Task gains a field that the hand
// encoder does not write.
func TestTaskFieldsCoverTask(t *testing.T) {
	var tags []string
	typ := reflect.TypeFor[api.Task]()
	for i := range typ.NumField() {
		tags = append(tags, strings.Split(typ.Field(i).Tag.Get("json"), ",")[0])
	}
	var names []string
	for _, f := range taskFields {
		names = append(names, f.name)
	}
	if !slices.Equal(names, tags) {
		t.Errorf("taskFields %v\n api.Task %v", names, tags)
	}
	if !slices.Equal(names, api.TaskFieldNames) {
		t.Errorf("taskFields %v\n api.TaskFieldNames %v", names, api.TaskFieldNames)
	}
}

// oldProjection is how task.list projected fields before the hand encoder:
// marshal, unmarshal into a map, keep the fields, marshal the map.
func oldProjection(t *testing.T, task api.Task, fields []string) []byte {
	var all map[string]json.RawMessage
	b, _ := json.Marshal(task)
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	m := map[string]json.RawMessage{"task_id": all["task_id"]}
	for _, f := range fields {
		if v, ok := all[f]; ok {
			m[f] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestProjectionMatchesOldOutput(t *testing.T) {
	selections := [][]string{{"name", "state"}, {"state", "name", "state"}, {"task_id"}, {"ratio", "error", "finished_at", "labels"}}
	for _, f := range api.TaskFieldNames {
		selections = append(selections, []string{f})
	}
	selections = append(selections, api.TaskFieldNames)
	for i, task := range encodeCases() {
		for _, fields := range selections {
			sel, err := fieldSelection(fields)
			if err != nil {
				t.Fatal(err)
			}
			want := oldProjection(t, task, fields)
			if got := appendTask(nil, &task, sel); !bytes.Equal(got, want) {
				t.Errorf("case %d fields %v:\n got %s\nwant %s", i, fields, got, want)
			}
		}
	}
	if _, err := fieldSelection([]string{"name", "nope"}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown field: %v", err)
	}
}

func TestResultResponseMatchesEncodingJSON(t *testing.T) {
	for _, id := range []string{"", "1", `q"<&>\` + "\u2028\xff"} {
		for _, result := range []any{api.Empty{}, encoded(`{"tasks":[]}`), api.SessionStats{TasksByState: map[api.TaskState]int{"paused": 2}}} {
			raw, _ := json.Marshal(result)
			if e, ok := result.(encoded); ok {
				raw = json.RawMessage(e)
			}
			want, _ := json.Marshal(api.Response{ID: id, Result: raw})
			if got := resultResponse(id, result); !bytes.Equal(got, want) {
				t.Errorf("id %q:\n got %s\nwant %s", id, got, want)
			}
		}
	}
}

// FuzzAppendString checks the string escaper against encoding/json.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<a href='x'>&amp;</a>", "\x00\x1f\x7f\"\\", "\u2028\u2029", "\xff\xfe\xc3", "日本語 ✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}
