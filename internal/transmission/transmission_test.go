package transmission

import (
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		task api.Task
		want int
	}{
		{api.Task{State: api.StatePaused}, statusStopped},
		{api.Task{State: api.StateFinished, Size: 10, Completed: 10}, statusStopped},
		{api.Task{State: api.StateError}, statusStopped},
		{api.Task{State: api.StateChecking}, statusChecking},
		{api.Task{State: api.StateMetadata}, statusDownloading},
		{api.Task{State: api.StateDownloading, Size: 10}, statusDownloading},
		{api.Task{State: api.StateQueued, Size: 10, Completed: 3}, statusDownloadWait},
		{api.Task{State: api.StateQueued}, statusDownloadWait},
		{api.Task{State: api.StateQueued, Size: 10, Completed: 10}, statusSeedWait},
		{api.Task{State: api.StateSeeding, Size: 10, Completed: 10}, statusSeeding},
	} {
		if got := status(tc.task); got != tc.want {
			t.Errorf("status(%s, %d/%d) = %d, want %d", tc.task.State, tc.task.Completed, tc.task.Size, got, tc.want)
		}
	}
}

// TestIDsKeptInStore: ids survive reopening the store, a removed task's
// id is dropped and never handed out again.
func TestIDsKeptInStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := loadIDs(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ids.assign([]string{"a", "b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != 1 || got["b"] != 2 || got["c"] != 3 {
		t.Fatalf("first ids: %v", got)
	}
	// "a" is gone; "d" is new.
	live := map[string]bool{"b": true, "c": true, "d": true}
	if got, err = ids.assign([]string{"b", "c", "d"}, func(k string) bool { return live[k] }); err != nil {
		t.Fatal(err)
	}
	if got["b"] != 2 || got["c"] != 3 || got["d"] != 4 {
		t.Fatalf("after a removal: %v", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err = loadIDs(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ids.lookup("a"); ok {
		t.Error("the removed task still has an id after reopening")
	}
	if got, err = ids.assign([]string{"a", "b", "d"}, nil); err != nil {
		t.Fatal(err)
	}
	if got["b"] != 2 || got["d"] != 4 || got["a"] != 5 {
		t.Errorf("after reopening: %v, want b 2, d 4 and a new 5 for a", got)
	}
}
