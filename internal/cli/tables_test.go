package cli

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func TestFormatFraction(t *testing.T) {
	for f, want := range map[float64]string{-1: "0.0%", 0: "0.0%", 0.29: "29.0%", 0.5234: "52.3%", 0.9999: "99.9%", 1: "100.0%", 1.5: "100.0%"} {
		if got := formatFraction(f); got != want {
			t.Errorf("formatFraction(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestIndexList(t *testing.T) {
	tests := []struct {
		values []string
		want   string // the indices, or part of the error
	}{
		{[]string{"0"}, "0"},
		{[]string{"0,2,5"}, "0,2,5"},
		{[]string{" 3 , 1", "1"}, "3,1,1"},
		{[]string{""}, "want comma-separated file indices"},
		{[]string{"1,"}, "want comma-separated file indices"},
		{[]string{"-1"}, `"-1" is not a file index`},
		{[]string{"1-3"}, `"1-3" is not a file index`},
		{[]string{"99999999999999999999"}, "is not a file index"},
	}
	for _, tt := range tests {
		var l indexList
		var err error
		for _, v := range tt.values {
			if err = l.Set(v); err != nil {
				break
			}
		}
		if got := fmt.Sprint(err); err != nil && !strings.Contains(got, tt.want) || err == nil && l.String() != tt.want {
			t.Errorf("Set(%q): %q, %v; want %s", tt.values, l.String(), err, tt.want)
		}
	}
}

func TestFilePriorities(t *testing.T) {
	list := func(v ...int) indexList { return indexList{values: v} }
	got, err := filePriorities(map[string]indexList{api.PrioritySkip: list(1, 1), api.PriorityHigh: list(4, 0)})
	if err != nil || fmt.Sprint(got) != "map[0:high 1:skip 4:high]" {
		t.Errorf("filePriorities = %v, %v", got, err)
	}
	if got, err := filePriorities(map[string]indexList{}); got != nil || err != nil {
		t.Errorf("no flags: %v, %v; want nil (absent from task.set)", got, err)
	}
	if _, err := filePriorities(map[string]indexList{api.PriorityNormal: list(2), api.PriorityHigh: list(2)}); err == nil || err.Error() != "file 2 is given both --normal and --high" {
		t.Errorf("conflict: %v", err)
	}
}

// info prints every field of api.Task, in the struct's order, whatever
// the daemon leaves out.
func TestInfoFieldsOrder(t *testing.T) {
	var want []string
	rt := reflect.TypeFor[api.Task]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		want = append(want, name)
	}
	if fmt.Sprint(want) != fmt.Sprint(api.TaskFieldNames) {
		t.Errorf("api.TaskFieldNames %v differ from api.Task's fields %v", api.TaskFieldNames, want)
	}
	// A task with every optional field left out, and one field a newer
	// daemon might add.
	raw, err := json.Marshal(api.Task{TaskID: "ab", Name: "n", DownloadDir: "/d"})
	if err != nil {
		t.Fatal(err)
	}
	raw = json.RawMessage(strings.Replace(string(raw), "{", `{"zz_new":7,`, 1))
	var b strings.Builder
	if err := writeFields(&b, raw); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		k, _, _ := strings.Cut(l, ": ")
		keys = append(keys, k)
	}
	if got, want := fmt.Sprint(keys), fmt.Sprint(append(want, "zz_new")); got != want {
		t.Errorf("info keys %s, want %s", got, want)
	}
	for _, line := range []string{"error: -\n", "finished_at: -\n", "labels: -\n", "download_dir: /d\n", "zz_new: 7\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("info lacks %q:\n%s", line, b.String())
		}
	}
}

func TestPeersTable(t *testing.T) {
	var b strings.Builder
	err := writePeersTable(&b, []api.TaskPeer{
		{Address: "127.0.0.2:6881", Client: "", Source: "incoming", Network: "tcp4", DownloadRate: 0, UploadRate: 2048, Progress: 0.25},
		{Address: "127.0.0.1:51413", Client: "Evil\x1b[2J Client", Source: "direct", Network: "udp4", DownloadRate: 1 << 20, Progress: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ADDRESS          CLIENT           SOURCE    NETWORK  DOWN       UP         DONE\n" +
		"127.0.0.1:51413  Evil\uFFFD[2J Client  direct    udp4     1.0 MiB/s  0 B/s      100.0%\n" +
		"127.0.0.2:6881   -                incoming  tcp4     0 B/s      2.0 KiB/s  25.0%\n"
	if b.String() != want {
		t.Errorf("peers table:\n%s\nwant\n%s", b.String(), want)
	}
}

// watch counts a task seeding or finished (seeding limit reached) as done,
// and one queued as not yet.
func TestWatchDoneStates(t *testing.T) {
	w := &watcher{e: &env{stdout: &strings.Builder{}}, byID: map[string]*watchRow{}}
	w.add(api.Task{TaskID: "a", State: api.StateFinished})
	if !w.allDone() {
		t.Error("a finished task is not done")
	}
	w.add(api.Task{TaskID: "b", State: api.StateQueued})
	if w.allDone() {
		t.Error("a queued task is done")
	}
	ev := api.Event{Name: api.EventTaskState, Data: []byte(`{"task_id":"b","from":"downloading","to":"finished"}`)}
	if err := w.apply(ev); err != nil || !w.allDone() {
		t.Errorf("after b -> finished: %v, done %v", err, w.allDone())
	}
}
