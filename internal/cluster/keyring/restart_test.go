package keyring_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/keyring"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// restartable is three routed embedded servers with fixed client ports, so
// that a server shut down starts again on its ports and store dir, and
// clients that know every server fail over and come back.
type restartable struct {
	t    *testing.T
	opts []natsnode.Options
	srv  []*natsnode.Node
}

func startRestartable(t *testing.T) *restartable {
	t.Helper()
	const n = 3
	routes := make([]int, n)
	for i := range routes {
		routes[i] = natsnodetest.FreePort(t)
	}
	c := &restartable{t: t, srv: make([]*natsnode.Node, n)}
	for i := range n {
		o := natsnodetest.Options(t, "lodestone-test", i, routes)
		o.Listen = fmt.Sprintf("127.0.0.1:%d", natsnodetest.FreePort(t))
		o.Logger = testLogger(t)
		c.opts = append(c.opts, o)
	}
	t.Cleanup(func() {
		for _, s := range c.srv {
			if s != nil {
				s.Shutdown()
			}
		}
	})
	// Concurrently: a routed server answers only once a majority is up.
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- c.startErr(i) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *restartable) startErr(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := natsnode.Start(ctx, c.opts[i])
	c.srv[i] = s
	return err
}

func (c *restartable) stop(i int) {
	c.srv[i].Shutdown()
	c.srv[i] = nil
}

func (c *restartable) start(i int) {
	c.t.Helper()
	if err := c.startErr(i); err != nil {
		c.t.Fatal(err)
	}
}

// connect opens a client that prefers server i and knows the others, as a
// node connected to an external NATS cluster does; closed at cleanup.
func (c *restartable) connect(i int) jetstream.JetStream {
	c.t.Helper()
	var urls []string
	for j := range c.opts {
		urls = append(urls, "nats://"+c.opts[(i+j)%len(c.opts)].Listen)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	return js
}

// leader is the index of the server leading the keys bucket's stream.
func (c *restartable) leader(js jetstream.JetStream) int {
	c.t.Helper()
	var name string
	retry(c.t, "the keys stream's leader", func(ctx context.Context) error {
		s, err := js.Stream(ctx, "KV_"+keyring.KeysBucket)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("no leader yet")
		}
		name = info.Cluster.Leader
		return nil
	})
	for i, o := range c.opts {
		if o.Name == name {
			return i
		}
	}
	c.t.Fatalf("leader %q is not one of ours", name)
	return -1
}

// retry runs f until it succeeds, failing the test after 30 s: what a client
// does while the bucket's stream elects a new leader.
func retry(t *testing.T, what string, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServerRestart: the NATS server leading the keys bucket's stream (and
// so holding the watchers' consumers) is shut down and started again on
// its store dir. Keys created and revoked while it is away, and after it is
// back, reach every node, the restarted server's node included: the
// watchers come back by themselves.
func TestServerRestart(t *testing.T) {
	c := startRestartable(t)
	ctx := ctxT(t)
	nodes := []*node{newNode(t), newNode(t), newNode(t)}
	for i, n := range nodes {
		r, err := keyring.Start(ctx, keyring.Config{
			JS: c.connect(i), Replicas: 3, Keys: n.keys, CheckInterval: checkInterval, Logger: testLogger(t).With("node", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		n.ring = r
		t.Cleanup(r.Close)
	}
	everywhere := func(what, key string, want bool) time.Duration {
		t.Helper()
		return waitFor(t, what, 30*time.Second, func() bool {
			for _, n := range nodes {
				if n.authenticates(key) != want {
					return false
				}
			}
			return true
		})
	}
	create := func(via int, name string) api.KeyCreateResult {
		t.Helper()
		var res api.KeyCreateResult
		retry(t, "create "+name, func(ctx context.Context) error {
			var err error
			res, err = nodes[via].ring.Create(ctx, api.KeyCreateParams{Name: name, Scope: api.ScopeRead})
			return err
		})
		return res
	}

	before := create(0, "before")
	everywhere("the first key", before.Key, true)

	l := c.leader(c.connect(0))
	t.Logf("restarting server %d, leader of the keys stream", l)
	c.stop(l)
	during := create((l+1)%3, "during")
	t.Logf("a key created while the leader was away reached every node in %v", everywhere("the key made during the outage", during.Key, true))

	c.start(l)
	_, _, revoked, _ := nodes[l].keys.Authenticate(before.Key)
	after := create(l, "after")
	t.Logf("a key created through the restarted server's node reached every node in %v", everywhere("the key made after the restart", after.Key, true))
	retry(t, "revoke", func(ctx context.Context) error {
		_, err := nodes[(l+2)%3].ring.Revoke(ctx, api.KeyRevokeParams{KeyID: before.KeyID})
		return err
	})
	everywhere("the revoke", before.Key, false)
	select {
	case <-revoked:
	default:
		t.Error("the revoke did not close the key's channel on the restarted server's node")
	}
	// And once more later, when every watcher has settled after the
	// restart, whichever way it recovered.
	time.Sleep(3 * checkInterval)
	last := create((l+1)%3, "last")
	t.Logf("a key created after the watchers settled reached every node in %v", everywhere("the last key", last.Key, true))
}
