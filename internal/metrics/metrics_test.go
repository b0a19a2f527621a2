package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lodestone-bt/lodestone/api"
)

func testSources() Sources {
	return Sources{
		Session: func() api.SessionStats {
			return api.SessionStats{DownloadRate: 5, TasksByState: map[api.TaskState]int{api.StateSeeding: 2}, FreeDiskBytes: 9}
		},
		Engine:           func() EngineTotals { return EngineTotals{BytesRead: 100, Peers: 3} },
		Connections:      func() int { return 1 },
		EventsDropped:    func() uint64 { return 0 },
		EventsSuperseded: func() uint64 { return 7 },
		Store:            func() (StoreSize, bool) { return StoreSize{File: 1 << 20, Free: 4096}, true },
	}
}

// The registry gathers without error and passes the linter (names, help,
// counters ending in _total); every state is a series.
func TestRegistryLint(t *testing.T) {
	m := New(testSources())
	m.ObserveRequest("task.get", api.CodeOK, time.Millisecond)
	m.ObserveStoreWrite(2 * time.Millisecond)
	problems, err := testutil.GatherAndLint(m.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP lodestone_tasks Tasks by state.
# TYPE lodestone_tasks gauge
lodestone_tasks{state="checking"} 0
lodestone_tasks{state="downloading"} 0
lodestone_tasks{state="error"} 0
lodestone_tasks{state="finished"} 0
lodestone_tasks{state="metadata"} 0
lodestone_tasks{state="paused"} 0
lodestone_tasks{state="queued"} 0
lodestone_tasks{state="seeding"} 2
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "lodestone_tasks"); err != nil {
		t.Error(err)
	}
}

// The store's size is reported, and -1 when it cannot be read (issue 15,
// item 17).
func TestStoreSize(t *testing.T) {
	src := testSources()
	m := New(src)
	want := `
# HELP lodestone_store_free_bytes Bytes of the task store's file that hold no data; the daemon compacts the file at start when they pass 4 MiB and half of it (-1 unknown).
# TYPE lodestone_store_free_bytes gauge
lodestone_store_free_bytes 4096
# HELP lodestone_store_size_bytes Size of the task store's file, lodestone.db (-1 unknown).
# TYPE lodestone_store_size_bytes gauge
lodestone_store_size_bytes 1.048576e+06
`
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "lodestone_store_size_bytes", "lodestone_store_free_bytes"); err != nil {
		t.Error(err)
	}
	src.Store = func() (StoreSize, bool) { return StoreSize{}, false }
	m = New(src)
	want = strings.NewReplacer("4096", "-1", "1.048576e+06", "-1").Replace(want)
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), "lodestone_store_size_bytes", "lodestone_store_free_bytes"); err != nil {
		t.Error(err)
	}
}

// BenchmarkObserveRequest is what metrics add to every API request.
func BenchmarkObserveRequest(b *testing.B) {
	m := New(testSources())
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(api.MethodTaskGet, api.CodeOK, 30*time.Microsecond)
		}
	})
}
