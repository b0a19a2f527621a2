package keyring_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apikeys"
	"github.com/lodestone-bt/lodestone/internal/cluster/keyring"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestMain fails the package if a watcher, a connection or a server
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkInterval is short so that a lost watcher is found in about a second.
const checkInterval = 500 * time.Millisecond

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// node is one Lodestone node's keys: a real store in its own data dir, the
// real apikeys on it, and its ring once started.
type node struct {
	t    *testing.T
	dir  string
	st   *store.Store
	keys *apikeys.Keys
	ring *keyring.Ring
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{t: t, dir: t.TempDir()}
	n.open()
	return n
}

// open opens the node's store and loads its keys, as a daemon start does.
func (n *node) open() {
	n.t.Helper()
	st, err := store.Open(n.dir)
	if err != nil {
		n.t.Fatal(err)
	}
	n.st = st
	n.t.Cleanup(func() { st.Close() })
	n.keys, err = apikeys.New(st, testLogger(n.t))
	if err != nil {
		n.t.Fatal(err)
	}
}

// restart closes the ring and the store and opens them again.
func (n *node) restart(ctx context.Context, js *natsnode.Node) {
	n.t.Helper()
	n.ring.Close()
	n.st.Close()
	n.open()
	n.start(ctx, js)
}

func (n *node) start(ctx context.Context, js *natsnode.Node) {
	n.t.Helper()
	r, err := keyring.Start(ctx, keyring.Config{
		JS: js.JS, Replicas: 3, Keys: n.keys, CheckInterval: checkInterval, Logger: testLogger(n.t),
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.ring = r
	n.t.Cleanup(r.Close)
}

func (n *node) authenticates(key string) bool {
	_, _, _, ok := n.keys.Authenticate(key)
	return ok
}

// waitFor polls f until it holds, failing the test after d, and returns how
// long it took (reported, never asserted).
func waitFor(t *testing.T, what string, d time.Duration, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !f() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func listIDs(t *testing.T, r *keyring.Ring) []string {
	t.Helper()
	l, err := r.List(context.Background(), struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range l.Keys {
		ids = append(ids, k.KeyID)
	}
	slices.Sort(ids)
	return ids
}

func isCode(err error, code api.Code) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == code
}

// TestKeysAcrossNodes: three nodes on three routed NATS servers (bucket
// with three replicas).
//   - A key node 0 made before it joined is uploaded and authenticates on
//     node 2; node 2's own earlier key reaches node 0.
//   - A key created through node 0 authenticates on nodes 1 and 2; key.list
//     on every node lists the same keys.
//   - A revoke through node 2 closes the revocation channel on node 0 (what
//     ends that key's connections there) and the key authenticates nowhere.
//   - An unknown id is 213.
//   - Keys reach each node's store: node 1, restarted without NATS, still
//     authenticates the cluster's keys.
//   - A key revoked while node 1 was away is forgotten when it comes back,
//     never uploaded again.
func TestKeysAcrossNodes(t *testing.T) {
	srv := natsnodetest.Cluster(t, "lodestone-test", 3)
	ctx := ctxT(t)
	nodes := []*node{newNode(t), newNode(t), newNode(t)}

	early0, err := nodes[0].keys.Create(ctx, api.KeyCreateParams{Name: "before joining", Scope: api.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	early2, err := nodes[2].keys.Create(ctx, api.KeyCreateParams{Name: "node 2's own", Scope: api.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		n.start(ctx, srv[i])
	}
	waitFor(t, "node 0's early key on node 2", 10*time.Second, func() bool { return nodes[2].authenticates(early0.Key) })
	waitFor(t, "node 2's early key on node 0", 10*time.Second, func() bool { return nodes[0].authenticates(early2.Key) })
	waitFor(t, "both early keys on node 1", 10*time.Second, func() bool {
		return nodes[1].authenticates(early0.Key) && nodes[1].authenticates(early2.Key)
	})
	if _, scope, _, _ := nodes[1].keys.Authenticate(early2.Key); scope != api.ScopeAdmin {
		t.Errorf("node 2's admin key has scope %q on node 1", scope)
	}

	start := time.Now()
	made, err := nodes[0].ring.Create(ctx, api.KeyCreateParams{Name: "cluster key", Scope: api.ScopeControl})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Since(start)
	if !nodes[0].authenticates(made.Key) {
		t.Fatal("the key does not authenticate on the node that made it when Create returns")
	}
	waitFor(t, "the new key on node 2", 10*time.Second, func() bool { return nodes[2].authenticates(made.Key) })
	t.Logf("key.create on node 0 answered after %v; node 2 authenticated the key %v after the call", created, time.Since(start))
	waitFor(t, "the new key on node 1", 10*time.Second, func() bool { return nodes[1].authenticates(made.Key) })
	want := []string{early0.KeyID, early2.KeyID, made.KeyID}
	slices.Sort(want)
	for i, n := range nodes {
		if got := listIDs(t, n.ring); !slices.Equal(got, want) {
			t.Errorf("key.list on node %d: %v, want %v", i, got, want)
		}
	}

	_, _, revoked, ok := nodes[0].keys.Authenticate(made.Key)
	if !ok {
		t.Fatal("lost the key on node 0")
	}
	start = time.Now()
	if _, err := nodes[2].ring.Revoke(ctx, api.KeyRevokeParams{KeyID: made.KeyID}); err != nil {
		t.Fatal(err)
	}
	if nodes[2].authenticates(made.Key) {
		t.Error("the key authenticates on the node that revoked it after Revoke returned")
	}
	select {
	case <-revoked:
		t.Logf("a revoke on node 2 closed node 0's channel %v after the call", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("a revoke through node 2 did not close the key's channel on node 0")
	}
	waitFor(t, "the revoke on node 1", 10*time.Second, func() bool { return !nodes[1].authenticates(made.Key) })
	if nodes[0].authenticates(made.Key) {
		t.Error("the revoked key authenticates on node 0")
	}
	for _, id := range []string{made.KeyID, "0123456789abcdef", "", "not a key"} {
		if _, err := nodes[1].ring.Revoke(ctx, api.KeyRevokeParams{KeyID: id}); !isCode(err, api.CodeNoSuchKey) {
			t.Errorf("revoking %q: %v, want 213", id, err)
		}
	}

	// Node 1 goes away; a key is revoked meanwhile; node 1's store still
	// has it.
	nodes[1].ring.Close()
	if _, err := nodes[0].ring.Revoke(ctx, api.KeyRevokeParams{KeyID: early0.KeyID}); err != nil {
		t.Fatal(err)
	}
	if !nodes[1].authenticates(early0.Key) {
		t.Fatal("node 1 without its ring learnt of the revoke: the test proves nothing")
	}
	// Node 1 restarts from its store, without NATS: the cluster's keys
	// work.
	nodes[1].st.Close()
	nodes[1].open()
	if !nodes[1].authenticates(early2.Key) {
		t.Error("a cluster key did not reach node 1's store")
	}
	// It rejoins: the revoked key is forgotten, not uploaded again.
	nodes[1].start(ctx, srv[1])
	if nodes[1].authenticates(early0.Key) {
		t.Error("a key revoked while node 1 was away authenticates there after it rejoined")
	}
	time.Sleep(2 * checkInterval)
	for i, n := range nodes {
		if n.authenticates(early0.Key) {
			t.Errorf("the revoked key came back on node %d", i)
		}
		if got := listIDs(t, n.ring); !slices.Equal(got, []string{early2.KeyID}) {
			t.Errorf("key.list on node %d: %v, want only %s", i, got, early2.KeyID)
		}
	}
}

// TestToken: the first node stores its token; a later node with a
// generated token adopts the cluster's; one given the same token is fine;
// one given another is refused with a message naming the cluster and the
// fix. Token creates the cluster bucket when it runs first, and
// membership's Join binds it (membership's name key is what the message
// names).
func TestToken(t *testing.T) {
	srv := natsnodetest.Cluster(t, "lodestone-test", 3)
	ctx := ctxT(t)
	got, err := keyring.Token(ctx, srv[0].JS, 3, "first-token", false)
	if err != nil || got != "first-token" {
		t.Fatalf("first node: %q, %v", got, err)
	}
	joinMembership(t, ctx, srv[1])
	if got, err := keyring.Token(ctx, srv[1].JS, 3, "generated-elsewhere", false); err != nil || got != "first-token" {
		t.Fatalf("generated token: %q, %v; want the cluster's", got, err)
	}
	if got, err := keyring.Token(ctx, srv[2].JS, 3, "first-token", true); err != nil || got != "first-token" {
		t.Fatalf("the same given token: %q, %v", got, err)
	}
	_, err = keyring.Token(ctx, srv[2].JS, 3, "another-given", true)
	if !errors.Is(err, keyring.ErrTokenMismatch) {
		t.Fatalf("another given token: %v, want ErrTokenMismatch", err)
	}
	for _, want := range []string{`cluster "lodestone-test"`, "give every node the same token, or none", "adopts the cluster's"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "first-token") || strings.Contains(err.Error(), "another-given") {
		t.Errorf("the error shows a token: %q", err)
	}
	if _, err := keyring.Token(ctx, srv[2].JS, 3, "", false); err == nil {
		t.Error("an empty token was accepted")
	}
}

func joinMembership(t *testing.T, ctx context.Context, n *natsnode.Node) {
	t.Helper()
	m, err := membership.Join(ctx, membership.Config{
		JS: n.JS, NodeID: "m", ClusterName: "lodestone-test", TTL: 2 * time.Second, Replicas: 3,
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
}

// TestNATSLost: a node whose NATS connection is gone answers key.create and
// key.revoke with 216 (cluster_unavailable) and changes nothing, while
// key.list and authentication go on from its local keys.
func TestNATSLost(t *testing.T) {
	srv := natsnodetest.Cluster(t, "lodestone-test", 1)
	ctx := ctxT(t)
	nc, err := nats.Connect(srv[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	n := newNode(t)
	// Three replicas on one server: refused at once, not retried.
	if r, err := keyring.Start(ctx, keyring.Config{JS: js, Replicas: 3, Keys: n.keys}); err == nil || ctx.Err() != nil {
		if r != nil {
			r.Close()
		}
		t.Fatalf("Start with three replicas on one server: %v (context: %v)", err, ctx.Err())
	}
	r, err := keyring.Start(ctx, keyring.Config{JS: js, Keys: n.keys, CheckInterval: checkInterval, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	n.ring = r
	made, err := n.ring.Create(ctx, api.KeyCreateParams{Name: "k", Scope: api.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := n.ring.Create(ctx, api.KeyCreateParams{Name: "k2", Scope: api.ScopeRead}); !isCode(err, api.CodeClusterUnavailable) {
		t.Errorf("Create without NATS: %v, want 216", err)
	}
	if _, err := n.ring.Revoke(ctx, api.KeyRevokeParams{KeyID: made.KeyID}); !isCode(err, api.CodeClusterUnavailable) {
		t.Errorf("Revoke without NATS: %v, want 216", err)
	}
	if !n.authenticates(made.Key) {
		t.Error("the key stopped authenticating without NATS")
	}
	if got := listIDs(t, n.ring); !slices.Equal(got, []string{made.KeyID}) {
		t.Errorf("key.list without NATS: %v", got)
	}
}
