package tasklist_test

import (
	"context"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// A watcher whose consumer is gone (deleted here, as when the server
// holding it dies) stalls until the client misses its heartbeats or the
// check runs (10 s by default); Rewatch recreates it at once, resuming
// after the cache's revision: the changes made meanwhile arrive within
// 5 s, each exactly once (the recorder fails on a revision seen twice),
// and those before are not delivered again.
func TestRewatchResumes(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	rec := newRecorder(t)
	l := open(t, ctx, srv[0], 1, rec)
	var last tasklist.Entry
	var err error
	for i := range 3 {
		if last, err = l.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "a", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Wait(ctx, last.Revision); err != nil {
		t.Fatal(err)
	}
	s, err := srv[0].JS.Stream(ctx, "KV_"+tasklist.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	names := s.ConsumerNames(ctx)
	deleted := 0
	for name := range names.Name() {
		if err := s.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
		deleted++
	}
	if names.Err() != nil || deleted != 1 {
		t.Fatalf("deleted %d consumers (want the list's), err %v", deleted, names.Err())
	}
	for i := 3; i < 6; i++ {
		if last, err = l.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "b", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	l.Rewatch()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.Wait(wctx, last.Revision); err != nil {
		t.Fatalf("after Rewatch: %v", err)
	}
	t.Logf("caught up %v after Rewatch", time.Since(start).Round(time.Millisecond))
	if l.Len() != 6 {
		t.Fatalf("cache has %d entries, want 6", l.Len())
	}
	for i := range 6 {
		if got := rec.get(id(i)); len(got) != 1 {
			t.Errorf("%s: OnChange revisions %v, want one", id(i), got)
		}
	}
}
