package membership_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// TestMain fails the package if a watcher, heartbeat loop or server outlives
// the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const ttl = 2 * time.Second

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func join(t *testing.T, ctx context.Context, n *natsnode.Node, id string, replicas int, st func() membership.Status) *membership.Membership {
	t.Helper()
	if st == nil {
		st = func() membership.Status { return membership.Status{FreeDisk: 100 << 30} }
	}
	m, err := membership.Join(ctx, membership.Config{
		JS: n.JS, NodeID: id, ClusterName: "lodestone-test", APIURL: "http://" + id,
		Version: "test", TTL: ttl, Replicas: replicas, Status: st,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func ids(ns []membership.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

// waitLive waits until m sees exactly want live, within d.
func waitLive(t *testing.T, m *membership.Membership, d time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := ids(m.Live())
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("live %v, want %v after %v", got, want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Three members on three routed embedded servers (buckets with 3 replicas)
// see each other; one that stops its heartbeats disappears from the others'
// live lists within the TTL plus slack, through the expiry marker the server
// places; when it joins again it is back everywhere.
func TestThreeNodesJoinExpireRejoin(t *testing.T) {
	srv := natsnodetest.Cluster(t, "lodestone-test", 3)
	ctx := ctxT(t)
	names := []string{"a", "b", "c"}
	ms := make([]*membership.Membership, 3)
	for i := range ms {
		ms[i] = join(t, ctx, srv[i], names[i], 3, nil)
	}
	for _, m := range ms {
		waitLive(t, m, 5*time.Second, names...)
		if !m.Markers() {
			t.Fatal("Markers() is false on a server with limit markers")
		}
	}
	got := ms[0].Live()[1]
	if got.APIURL != "http://b" || got.Version != "test" || got.FreeDisk != 100<<30 {
		t.Fatalf("heartbeat of b as seen by a: %+v", got)
	}
	kv, err := srv[1].JS.KeyValue(ctx, membership.NodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(ctx, "c", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ms[2].Close()
	stopped := time.Now()
	// TTL + slack: the key must outlive its last beat by up to a TTL, and
	// the server checks expiry once a second or so.
	waitLive(t, ms[0], ttl+5*time.Second, "a", "b")
	t.Logf("c gone from a's live list %v after it stopped (its last beat was up to ttl/3 earlier; ttl %v)", time.Since(stopped).Round(10*time.Millisecond), ttl)
	waitLive(t, ms[1], time.Second, "a", "b")
	// The server itself marks the expiry, so watchers need not trust
	// their clocks: a purge marker for c arrives.
	wctx, cancel := context.WithTimeout(ctx, ttl+5*time.Second)
	defer cancel()
	for marked := false; !marked; {
		select {
		case e := <-w.Updates():
			marked = e != nil && e.Operation() == jetstream.KeyValuePurge
		case <-wctx.Done():
			t.Fatal("no expiry marker for c")
		}
	}
	t.Logf("expiry marker for c %v after it stopped", time.Since(stopped).Round(10*time.Millisecond))
	ms[2] = join(t, ctx, srv[2], "c", 3, nil)
	for _, m := range ms {
		waitLive(t, m, 5*time.Second, names...)
	}
}

// Leave removes the node at once, without waiting for the TTL.
func TestLeave(t *testing.T) {
	ctx := ctxT(t)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	a := join(t, ctx, srv[0], "a", 1, nil)
	b := join(t, ctx, srv[0], "b", 1, nil)
	waitLive(t, a, 5*time.Second, "a", "b")
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	// Well under the TTL: the delete reaches the watcher directly.
	waitLive(t, a, ttl/2, "a")
}

// A drained node and a node at its max tasks are never chosen by any member;
// clearing the drain flag and freeing a slot make them eligible again; with
// every node ineligible Place says ErrNoNode.
func TestDrainAndMaxTasks(t *testing.T) {
	ctx := ctxT(t)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	var cTasks atomic.Int64
	cTasks.Store(4)
	a := join(t, ctx, srv[0], "a", 1, nil)
	b := join(t, ctx, srv[0], "b", 1, nil)
	c := join(t, ctx, srv[0], "c", 1, func() membership.Status {
		return membership.Status{FreeDisk: 100 << 30, Tasks: int(cTasks.Load()), MaxTasks: 4}
	})
	waitLive(t, b, 5*time.Second, "a", "b", "c")
	ks := keys(300)
	placed := func(m *membership.Membership) map[string]int {
		per := map[string]int{}
		for _, k := range ks {
			id, err := m.Place(k)
			if err != nil {
				t.Fatal(err)
			}
			per[id]++
		}
		return per
	}
	if per := placed(b); per["c"] != 0 || per["a"] == 0 || per["b"] == 0 {
		t.Fatalf("c is at max tasks: %v", per)
	}
	if err := a.Drain(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b draining on c", func() bool { return c.Live()[1].Draining })
	if per := placed(c); per["a"] != len(ks) {
		t.Fatalf("b draining and c full: %v", per)
	}
	// The drained node's own heartbeat carries the flag once it beats.
	if err := b.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Drain(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a draining on b", func() bool { return b.Live()[0].Draining })
	if _, err := b.Place(ks[0]); !errors.Is(err, membership.ErrNoNode) {
		t.Fatalf("all drained or full: err %v", err)
	}
	cTasks.Store(3)
	if err := c.Beat(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "c with a free slot", func() bool { id, err := a.Place(ks[0]); return err == nil && id == "c" })
	if err := a.Drain(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b back", func() bool { return !a.Live()[1].Draining })
	if per := placed(a); per["b"] == 0 || per["c"] == 0 || per["a"] != 0 {
		t.Fatalf("a draining, b and c open: %v", per)
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 5s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The first node to join names the cluster; a node with another cluster
// name is refused with ErrClusterName and leaves no heartbeat behind, and a
// node with the same name joins.
func TestClusterNameMismatchRefused(t *testing.T) {
	ctx := ctxT(t)
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	a := join(t, ctx, srv[0], "a", 1, nil)
	_, err := membership.Join(ctx, membership.Config{JS: srv[0].JS, NodeID: "x", ClusterName: "other", TTL: ttl})
	if !errors.Is(err, membership.ErrClusterName) {
		t.Fatalf("join with another cluster name: err %v", err)
	}
	b := join(t, ctx, srv[0], "b", 1, nil)
	waitLive(t, b, 5*time.Second, "a", "b")
	waitLive(t, a, 5*time.Second, "a", "b")
}

// When the NATS server restarts (same store dir and port), the members'
// connections reconnect, their watchers resume and a member that joined
// while the others were reconnecting shows up in their live lists.
func TestSurvivesServerRestart(t *testing.T) {
	ctx := ctxT(t)
	dir := t.TempDir()
	port := natsnodetest.FreePort(t)
	o := natsnode.Options{Name: "s", StoreDir: dir, Listen: fmt.Sprintf("127.0.0.1:%d", port)}
	srv, err := natsnode.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := natsnode.Start(ctx, natsnode.Options{Name: "a", URLs: []string{srv.ClientURL()}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	ma := join(t, ctx, a, "a", 1, nil)
	waitLive(t, ma, 5*time.Second, "a")
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
	mb := join(t, ctx, b, "b", 1, nil)
	waitLive(t, ma, 10*time.Second, "a", "b")
	waitLive(t, mb, 10*time.Second, "a", "b")
}
