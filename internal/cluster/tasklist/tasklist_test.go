package tasklist_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// TestMain fails the package if a watcher or server outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// id returns a task id (a 40-hex info-hash) derived from n.
func id(n int) string {
	h := sha1.Sum([]byte(fmt.Sprint("task ", n)))
	return hex.EncodeToString(h[:])
}

// magnet is a task.add of a magnet of the length real ones have: a name and
// two trackers.
func magnet(n int) api.TaskAddParams {
	return api.TaskAddParams{
		Type: api.TaskTypeMagnet,
		Data: "magnet:?xt=urn:btih:" + id(n) + "&dn=Some.Linux.Distribution.2026.amd64.iso" +
			"&tr=udp%3A%2F%2Ftracker.example.org%3A6969%2Fannounce&tr=http%3A%2F%2Ftracker.example.net%2Fannounce",
		Labels: []string{"linux"},
	}
}

// recorder records what OnChange was told, and fails the test when a key's
// changes come out of revision order or a revision comes twice.
type recorder struct {
	t  testing.TB
	mu sync.Mutex
	// per key: the revisions seen, 0 for a deletion
	seq  map[string][]uint64
	last map[string]uint64
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, seq: map[string][]uint64{}, last: map[string]uint64{}}
}

func (r *recorder) onChange(old, cur *tasklist.Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var key string
	var rev uint64
	switch {
	case old == nil && cur == nil:
		r.t.Errorf("OnChange(nil, nil)")
		return
	case cur == nil:
		key = old.TaskID
	default:
		key, rev = cur.TaskID, cur.Revision
		if rev <= r.last[key] {
			r.t.Errorf("%s: revision %d after %d", key, rev, r.last[key])
		}
		r.last[key] = rev
	}
	if old != nil && len(r.seq[key]) > 0 {
		if prev := r.seq[key][len(r.seq[key])-1]; prev != old.Revision {
			r.t.Errorf("%s: old revision %d, but the last delivered was %d", key, old.Revision, prev)
		}
	}
	r.seq[key] = append(r.seq[key], rev)
}

func (r *recorder) get(key string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seq[key])
}

func open(t testing.TB, ctx context.Context, n *natsnode.Node, replicas int, rec *recorder) *tasklist.List {
	t.Helper()
	cfg := tasklist.Config{JS: n.JS, Replicas: replicas}
	if rec != nil {
		cfg.OnChange = rec.onChange
	}
	l, err := tasklist.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func waitFor(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Create, Get, Load, Update (changed, skipped, conflict on a stale
// revision) and Delete on one server; a second Create of the same id gets
// ErrExists with the entry that is there; a deleted id can be added again.
func TestCreateUpdateDelete(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	rec := newRecorder(t)
	l := open(t, ctx, srv[0], 1, rec)
	if l.Len() != 0 {
		t.Fatalf("fresh list has %d entries", l.Len())
	}
	e, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "a", Add: magnet(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Generation != 1 || e.Revision == 0 || e.AddedAt.IsZero() || e.TorrentStored() {
		t.Fatalf("created %+v", e)
	}
	again, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "b", Add: magnet(1)}, nil)
	if !errors.Is(err, tasklist.ErrExists) || again.Node != "a" || again.Revision != e.Revision {
		t.Fatalf("second create: %+v, %v", again, err)
	}
	if err := l.Wait(ctx, e.Revision); err != nil {
		t.Fatal(err)
	}
	got, ok := l.Get(id(1))
	if !ok || got.Node != "a" || got.Add.Data != magnet(1).Data || got.Revision != e.Revision {
		t.Fatalf("cached %+v %v", got, ok)
	}
	up, err := l.Update(ctx, id(1), func(e *tasklist.Entry) error {
		e.Paused = true
		return nil
	})
	if err != nil || !up.Paused || up.Revision <= e.Revision {
		t.Fatalf("update: %+v, %v", up, err)
	}
	same, err := l.Update(ctx, id(1), func(e *tasklist.Entry) error {
		e.Node = "z" // discarded with ErrSkip
		return tasklist.ErrSkip
	})
	if !errors.Is(err, tasklist.ErrSkip) || same.Revision != up.Revision || same.Node != "a" {
		t.Fatalf("skipped update: %+v, %v", same, err)
	}
	if _, err := l.Update(ctx, id(2), func(*tasklist.Entry) error { return nil }); !errors.Is(err, tasklist.ErrNotFound) {
		t.Fatalf("update of a missing id: %v", err)
	}
	fresh, err := l.Load(ctx, id(1))
	if err != nil || !fresh.Paused || fresh.Revision != up.Revision {
		t.Fatalf("load: %+v, %v", fresh, err)
	}
	if err := l.Delete(ctx, id(1), e.Revision); !errors.Is(err, tasklist.ErrConflict) {
		t.Fatalf("delete at a stale revision: %v", err)
	}
	if err := l.Delete(ctx, id(1), up.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(ctx, id(1)); !errors.Is(err, tasklist.ErrNotFound) {
		t.Fatalf("load after delete: %v", err)
	}
	if err := l.Delete(ctx, id(1), 0); !errors.Is(err, tasklist.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	waitFor(t, 5*time.Second, "deletion in the cache", func() bool { _, ok := l.Get(id(1)); return !ok })
	readd, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "b", Add: magnet(1)}, nil)
	if err != nil || readd.Node != "b" || readd.Generation != 1 {
		t.Fatalf("re-add: %+v, %v", readd, err)
	}
	if err := l.Wait(ctx, readd.Revision); err != nil {
		t.Fatal(err)
	}
	want := []uint64{e.Revision, up.Revision, 0, readd.Revision}
	if got := rec.get(id(1)); !slices.Equal(got, want) {
		t.Fatalf("OnChange revisions %v, want %v", got, want)
	}
	for _, bad := range []tasklist.Entry{
		{TaskID: "xyz", Node: "a"},
		{TaskID: id(3), Node: "a.b"},
		{TaskID: id(3), Node: "a", Add: api.TaskAddParams{Type: api.TaskTypeTorrent}},
	} {
		if _, err := l.Create(ctx, bad, nil); err == nil || errors.Is(err, tasklist.ErrExists) {
			t.Errorf("create %+v: err %v", bad, err)
		}
	}
	// Torrent bytes with a magnet would lose the magnet.
	if _, err := l.Create(ctx, tasklist.Entry{TaskID: id(3), Node: "a", Add: magnet(3)}, []byte("d4:infode")); err == nil {
		t.Error("a magnet with torrent bytes was accepted")
	}
	if _, err := l.Update(ctx, id(1), func(e *tasklist.Entry) error { e.Object = "x"; return nil }); err == nil {
		t.Error("an update may not change the object")
	}
}

// A .torrent goes to the object store, not into the entry; Torrent reads it
// back byte for byte; a Create that finds the id taken leaves no object
// behind; Delete removes the object and its marker, so the object store's
// stream ends up empty.
func TestTorrentStoredAndDeleted(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	l := open(t, ctx, srv[0], 1, nil)
	// Bigger than the object store's 128 KiB chunk, an odd size, NULs.
	torrent := make([]byte, 300_001)
	for i := range torrent {
		torrent[i] = byte(i * 7 % 251)
	}
	add := api.TaskAddParams{Type: api.TaskTypeTorrent, Data: "base64 that must not be stored"}
	e, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "a", Add: add}, torrent)
	if err != nil {
		t.Fatal(err)
	}
	if !e.TorrentStored() || e.Add.Data != "" {
		t.Fatalf("created %+v", e)
	}
	loaded, err := l.Load(ctx, id(1))
	if err != nil || loaded.Add.Data != "" || loaded.Object != e.Object {
		t.Fatalf("stored entry %+v, %v", loaded, err)
	}
	got, err := l.Torrent(ctx, id(1))
	if err != nil || string(got) != string(torrent) {
		t.Fatalf("torrent back: %d bytes, %v", len(got), err)
	}
	if _, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "b", Add: add}, []byte("other")); !errors.Is(err, tasklist.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	obs, err := srv[0].JS.ObjectStore(ctx, tasklist.ObjectBucket)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := obs.List(ctx)
	if err != nil || len(infos) != 1 || infos[0].Name != e.Object {
		t.Fatalf("objects after a refused create: %v, %v", infos, err)
	}
	if _, err := l.Torrent(ctx, id(2)); !errors.Is(err, tasklist.ErrNotFound) {
		t.Fatalf("torrent of a missing task: %v", err)
	}
	if err := l.Delete(ctx, id(1), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Torrent(ctx, id(1)); !errors.Is(err, tasklist.ErrNotFound) {
		t.Fatalf("torrent after delete: %v", err)
	}
	s, err := srv[0].JS.Stream(ctx, "OBJ_"+tasklist.ObjectBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("object stream keeps %d messages after the delete", info.State.Msgs)
	}
}

// Two updaters on two servers of a three-server cluster (replicas 3) update
// the same entry at once, each adding its own labels: every update is
// applied, in some order, none lost, because each is a CAS retried on a
// conflict. A list on the third server reaches the final entry, and sees
// the changes through OnChange per key in revision order, the deletion
// last; a list opened afterwards sees the entries that exist as creations.
func TestConcurrentUpdatesAndOnChangeAcrossServers(t *testing.T) {
	srv := natsnodetest.Cluster(t, "lodestone-test", 3)
	ctx := ctxT(t, 60*time.Second)
	rec := newRecorder(t)
	watcher := open(t, ctx, srv[2], 3, rec)
	a := open(t, ctx, srv[0], 3, nil)
	b := open(t, ctx, srv[1], 3, nil)
	e, err := a.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "a", Add: magnet(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const each = 25
	var wg sync.WaitGroup
	var calls [2]int
	for i, l := range []*tasklist.List{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				_, err := l.Update(ctx, id(1), func(e *tasklist.Entry) error {
					calls[i]++
					e.Add.Labels = append(e.Add.Labels, fmt.Sprintf("u%d-%d", i, n))
					e.Generation++
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	final, err := watcher.Load(ctx, id(1))
	if err != nil {
		t.Fatal(err)
	}
	if final.Generation != 1+2*each || len(final.Add.Labels) != 1+2*each {
		t.Fatalf("after %d updates: generation %d, %d labels", 2*each, final.Generation, len(final.Add.Labels))
	}
	for i := range 2 {
		// Each updater's labels are there, in its own order.
		var mine []string
		for _, l := range final.Add.Labels {
			if len(l) > 2 && l[:2] == fmt.Sprintf("u%d", i) {
				mine = append(mine, l)
			}
		}
		for n, l := range mine {
			if l != fmt.Sprintf("u%d-%d", i, n) {
				t.Fatalf("updater %d's labels %v", i, mine)
			}
		}
	}
	t.Logf("%d updates took %d and %d function calls (the excess are CAS conflicts retried)", 2*each, calls[0], calls[1])
	// The third server's cache reaches the final state.
	if err := watcher.Wait(ctx, final.Revision); err != nil {
		t.Fatal(err)
	}
	if got, _ := watcher.Get(id(1)); got.Revision != final.Revision || got.Generation != final.Generation {
		t.Fatalf("cached on the third server: %+v", got)
	}
	e2, err := b.Create(ctx, tasklist.Entry{TaskID: id(2), Node: "b", Add: magnet(2)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, id(1), final.Revision); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deletion on the third server", func() bool {
		s := rec.get(id(1))
		return len(s) > 0 && s[len(s)-1] == 0
	})
	// Revisions of id(1) in order (the recorder fails on disorder), up to
	// the last update, then the deletion. With history 1 any revision
	// but the last can be replaced in the stream before the watcher
	// reads it (the create too: CI saw the first one at 2), so not every
	// one need be there.
	s := rec.get(id(1))
	if len(s) < 2 || s[0] < e.Revision || s[len(s)-2] != final.Revision {
		t.Fatalf("OnChange for %s: %v (created %d, last %d)", id(1), s, e.Revision, final.Revision)
	}
	t.Logf("OnChange saw %d of the %d revisions of %s", len(s)-1, 1+2*each, id(1))
	if err := watcher.Wait(ctx, e2.Revision); err != nil {
		t.Fatal(err)
	}
	if got := rec.get(id(2)); !slices.Equal(got, []uint64{e2.Revision}) {
		t.Fatalf("OnChange for %s: %v", id(2), got)
	}
	if c := watcher.Counts(); len(c) != 1 || c["b"] != 1 {
		t.Fatalf("counts %v", c)
	}
	late := newRecorder(t)
	open(t, ctx, srv[0], 3, late)
	if got := late.get(id(2)); !slices.Equal(got, []uint64{e2.Revision}) {
		t.Fatalf("a list opened later: OnChange for %s: %v", id(2), got)
	}
	if got := late.get(id(1)); len(got) != 0 {
		t.Fatalf("a list opened later was told of the deleted %s: %v", id(1), got)
	}
}

// When the NATS server restarts (same store dir and port), a list's
// connection reconnects and its cache converges within seconds to the
// changes made while it was away and after: entries created, updated and
// deleted by another node, each told to OnChange once, in order.
func TestCacheRecoversAfterServerRestart(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	port := natsnodetest.FreePort(t)
	o := natsnode.Options{Name: "s", StoreDir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", port)}
	srv, err := natsnode.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := natsnode.Start(ctx, natsnode.Options{Name: "a", URLs: []string{srv.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	rec := newRecorder(t)
	la := open(t, ctx, a, 1, rec)
	for i := range 3 {
		if _, err := la.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "a", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "3 entries", func() bool { return la.Len() == 3 })
	srv.Shutdown()
	srv, err = natsnode.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	b, err := natsnode.Start(ctx, natsnode.Options{Name: "b", URLs: []string{srv.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	lb := open(t, ctx, b, 1, nil)
	if lb.Len() != 3 {
		t.Fatalf("the restarted server's list has %d entries", lb.Len())
	}
	// Changes while a may still be reconnecting, and after.
	if _, err := lb.Update(ctx, id(0), func(e *tasklist.Entry) error { e.Node = "b"; e.Generation++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := lb.Delete(ctx, id(1), 0); err != nil {
		t.Fatal(err)
	}
	var last tasklist.Entry
	for i := 3; i < 6; i++ {
		if last, err = lb.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "b", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	restarted := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := la.Wait(wctx, last.Revision); err != nil {
		t.Fatal(err)
	}
	t.Logf("a's cache caught up %v after the last change", time.Since(restarted).Round(10*time.Millisecond))
	if c := la.Counts(); c["a"] != 1 || c["b"] != 4 || la.Len() != 5 {
		t.Fatalf("a's counts after the restart: %v", c)
	}
	if got := rec.get(id(1)); len(got) != 2 || got[1] != 0 {
		t.Fatalf("OnChange for the deleted %s: %v", id(1), got)
	}
	if got, _ := la.Get(id(0)); got.Node != "b" || got.Generation != 2 {
		t.Fatalf("a's cached moved entry: %+v", got)
	}
	// And it keeps following.
	e, err := lb.Update(ctx, id(2), func(e *tasklist.Entry) error { e.Paused = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := la.Wait(wctx, e.Revision); err != nil {
		t.Fatal(err)
	}
	if got, _ := la.Get(id(2)); !got.Paused {
		t.Fatalf("a's cache after a later update: %+v", got)
	}
}

// A typical magnet entry is a few hundred bytes of JSON as stored, a
// torrent's entry less (its bytes are in the object store).
func TestEntrySize(t *testing.T) {
	ctx := ctxT(t, 30*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	l := open(t, ctx, srv[0], 1, nil)
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	if _, err := l.Create(ctx, tasklist.Entry{TaskID: id(1), Node: "node-17", Add: magnet(1), AddedAt: at}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Update(ctx, id(1), func(e *tasklist.Entry) error {
		e.Generation, e.MovedFrom, e.MoveReason = 2, e.Node, tasklist.MoveNodeDown
		e.Node = "node-04"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Create(ctx, tasklist.Entry{TaskID: id(2), Node: "node-17", AddedAt: at,
		Add: api.TaskAddParams{Type: api.TaskTypeTorrent}}, make([]byte, 40_000)); err != nil {
		t.Fatal(err)
	}
	kv, err := srv[0].JS.KeyValue(ctx, tasklist.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id  string
		max int
	}{{id(1), 500}, {id(2), 300}} {
		e, err := kv.Get(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d bytes: %s", len(e.Value()), e.Value())
		if len(e.Value()) > c.max || !json.Valid(e.Value()) {
			t.Errorf("entry of %d bytes, want at most %d", len(e.Value()), c.max)
		}
	}
}

// When the watcher's consumer disappears from the server without the
// connection dropping (deleted here; lost with a server restart in life),
// the list notices within a few check intervals and its cache catches up.
func TestCacheRecoversWhenConsumerLost(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	w := open(t, ctx, srv[0], 1, nil)
	l, err := tasklist.Open(ctx, tasklist.Config{JS: srv[0].JS, CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
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
	if names.Err() != nil || deleted != 2 {
		t.Fatalf("deleted %d consumers (want both lists'), err %v", deleted, names.Err())
	}
	lost := time.Now()
	var last tasklist.Entry
	for i := range 5 {
		if last, err = w.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "a", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := l.Wait(wctx, last.Revision); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 5 {
		t.Fatalf("cache has %d entries", l.Len())
	}
	t.Logf("caught up %v after its consumer was deleted", time.Since(lost).Round(10*time.Millisecond))
}

// If the bucket is deleted and made again (by hand), its revisions start
// over; a running list notices that the stream is behind its cache and
// reloads it, telling OnChange of the entries gone.
func TestCacheReloadsRecreatedBucket(t *testing.T) {
	ctx := ctxT(t, 60*time.Second)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	rec := newRecorder(t)
	l, err := tasklist.Open(ctx, tasklist.Config{JS: srv[0].JS, CheckInterval: time.Second, OnChange: rec.onChange})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		if _, err := l.Create(ctx, tasklist.Entry{TaskID: id(i), Node: "a", Add: magnet(i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "3 entries", func() bool { return l.Len() == 3 })
	if err := srv[0].JS.DeleteKeyValue(ctx, tasklist.Bucket); err != nil {
		t.Fatal(err)
	}
	w := open(t, ctx, srv[0], 1, nil)
	if _, err := w.Create(ctx, tasklist.Entry{TaskID: id(7), Node: "b", Add: magnet(7)}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the new bucket's one entry", func() bool {
		_, ok := l.Get(id(7))
		return ok && l.Len() == 1
	})
	if got := rec.get(id(0)); len(got) != 2 || got[1] != 0 {
		t.Fatalf("OnChange for %s: %v", id(0), got)
	}
}
