package tasklist_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// createMany creates n entries (ids from..from+n-1) spread over nodes
// a, b, c with the given number of concurrent writers.
func createMany(tb testing.TB, ctx context.Context, l *tasklist.List, from, n, writers int) {
	tb.Helper()
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= from+n {
					return
				}
				e := tasklist.Entry{TaskID: id(i), Node: string(rune('a' + i%3)), Add: magnet(i)}
				if _, err := l.Create(ctx, e, nil); err != nil {
					tb.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
}

// 9,000 entries: a list opened afterwards holds them all when Open returns,
// with the right counts per node, All sorted by time added then id, OnNode
// agreeing with Counts, and OnChange told of each once.
func TestLoad9000(t *testing.T) {
	const n = 9000
	ctx := ctxT(t, 120*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	w := open(t, ctx, srv[0], 1, nil)
	start := time.Now()
	createMany(t, ctx, w, 0, n, 16)
	took := time.Since(start)
	t.Logf("created %d entries in %v (%.0f/s, 16 writers, -race if on)", n, took.Round(time.Millisecond), n/took.Seconds())
	waitFor(t, 10*time.Second, "the writer's cache", func() bool { return w.Len() == n })
	var told atomic.Int64
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start = time.Now()
	l, err := tasklist.Open(ctx, tasklist.Config{JS: srv[0].JS, OnChange: func(old, cur *tasklist.Entry) {
		if old != nil || cur == nil {
			t.Errorf("initial load told %v -> %v", old, cur)
		}
		told.Add(1)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Logf("Open with %d entries took %v", n, time.Since(start).Round(time.Millisecond))
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap grew by %d KiB with the second list's cache (~%d B an entry)",
		(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024, (int64(after.HeapAlloc)-int64(before.HeapAlloc))/n)
	if l.Len() != n || told.Load() != n {
		t.Fatalf("after Open: %d cached, %d told", l.Len(), told.Load())
	}
	c := l.Counts()
	if c["a"] != n/3 || c["b"] != n/3 || c["c"] != n/3 {
		t.Fatalf("counts %v", c)
	}
	start = time.Now()
	all := l.All()
	t.Logf("All() of %d took %v", n, time.Since(start).Round(time.Microsecond))
	if len(all) != n {
		t.Fatalf("All has %d", len(all))
	}
	for i := 1; i < len(all); i++ {
		p, q := all[i-1], all[i]
		if q.AddedAt.Before(p.AddedAt) || q.AddedAt.Equal(p.AddedAt) && q.TaskID <= p.TaskID {
			t.Fatalf("All out of order at %d: %v %s, %v %s", i, p.AddedAt, p.TaskID, q.AddedAt, q.TaskID)
		}
	}
	onB := l.OnNode("b")
	if len(onB) != n/3 {
		t.Fatalf("OnNode(b) has %d", len(onB))
	}
	for _, e := range onB {
		if e.Node != "b" {
			t.Fatalf("OnNode(b) has %+v", e)
		}
	}
	st, err := srv[0].JS.KeyValue(ctx, tasklist.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bucket: %d values, %d bytes (%d B an entry with the stream's overhead)", s.Values(), s.Bytes(), s.Bytes()/s.Values())
}

// BenchmarkCreate: acknowledged creates of magnet entries through one
// server, 16 concurrent writers.
func BenchmarkCreate(b *testing.B) {
	ctx := ctxT(b, 10*time.Minute)
	srv := natsnodetest.Cluster(b, "lodestone-test", 1)
	l := open(b, ctx, srv[0], 1, nil)
	b.ResetTimer()
	createMany(b, ctx, l, 0, b.N, 16)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkCreateR3: the same into a bucket with 3 replicas on three routed
// servers.
func BenchmarkCreateR3(b *testing.B) {
	ctx := ctxT(b, 10*time.Minute)
	srv := natsnodetest.Cluster(b, "lodestone-test", 3)
	l := open(b, ctx, srv[0], 3, nil)
	b.ResetTimer()
	createMany(b, ctx, l, 0, b.N, 16)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkOpen9000: Open (bind, watch, initial load into the cache) with
// 9,000 existing entries.
func BenchmarkOpen9000(b *testing.B) {
	ctx := ctxT(b, 10*time.Minute)
	srv := natsnodetest.Cluster(b, "lodestone-test", 1)
	createMany(b, ctx, open(b, ctx, srv[0], 1, nil), 0, 9000, 16)
	b.ResetTimer()
	for range b.N {
		l, err := tasklist.Open(ctx, tasklist.Config{JS: srv[0].JS})
		if err != nil {
			b.Fatal(err)
		}
		if l.Len() != 9000 {
			b.Fatal(fmt.Sprint("loaded ", l.Len()))
		}
		l.Close()
	}
}

// BenchmarkAll9000 and BenchmarkGet: cache reads with 9,000 entries.
func BenchmarkAll9000(b *testing.B) {
	ctx := ctxT(b, 10*time.Minute)
	srv := natsnodetest.Cluster(b, "lodestone-test", 1)
	l := open(b, ctx, srv[0], 1, nil)
	createMany(b, ctx, l, 0, 9000, 16)
	waitFor(b, 10*time.Second, "the cache", func() bool { return l.Len() == 9000 })
	b.Run("All", func(b *testing.B) {
		for range b.N {
			if len(l.All()) != 9000 {
				b.Fatal("short")
			}
		}
	})
	b.Run("OnNode", func(b *testing.B) {
		for range b.N {
			if len(l.OnNode("a")) != 3000 {
				b.Fatal("short")
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		for i := range b.N {
			if _, ok := l.Get(id(i % 9000)); !ok {
				b.Fatal("missing")
			}
		}
	})
}
