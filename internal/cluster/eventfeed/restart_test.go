package eventfeed_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/eventfeed"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// restartable is three routed embedded servers with fixed client ports,
// so that one can be shut down and started again on its store and the
// clients' reconnects find it.
type restartable struct {
	t     *testing.T
	opts  []natsnode.Options
	nodes []*natsnode.Node
	urls  []string
}

func startRestartable(t *testing.T, name string) *restartable {
	t.Helper()
	ports := []int{natsnodetest.FreePort(t), natsnodetest.FreePort(t), natsnodetest.FreePort(t)}
	r := &restartable{t: t, nodes: make([]*natsnode.Node, 3)}
	for i := range 3 {
		o := natsnodetest.Options(t, name, i, ports)
		o.Listen = fmt.Sprintf("127.0.0.1:%d", natsnodetest.FreePort(t))
		r.opts = append(r.opts, o)
		r.urls = append(r.urls, "nats://"+o.Listen)
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.start(i)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, n := range r.nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	return r
}

func (r *restartable) start(i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, r.opts[i])
	if err != nil {
		r.t.Error(err)
		return
	}
	r.nodes[i] = n
}

// connect connects to server i first, to the others when it is away.
func (r *restartable) connect(i int) *nats.Conn {
	urls := append([]string{r.urls[i]}, append(append([]string(nil), r.urls[:i]...), r.urls[i+1:]...)...)
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(nc.Close)
	return nc
}

// leader returns the index of the server leading stream.
func (r *restartable) leader(nc *nats.Conn, stream string) int {
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	var name string
	waitUntil(r.t, "a leader of "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		if c := s.CachedInfo().Cluster; c != nil {
			name = c.Leader
		}
		return name != ""
	})
	for i, o := range r.opts {
		if o.Name == name {
			return i
		}
	}
	r.t.Fatalf("leader %q is not one of ours", name)
	return -1
}

// TestEventStreamLeaderRestart: the server leading the event stream is
// shut down while a node publishes, and started again on its store. The
// node's forwarder and a mirror on another server, each connected to all
// three servers, carry on: the mirror's client gets all 300 events once,
// in order, and a replay from 0 gives the same.
func TestEventStreamLeaderRestart(t *testing.T) {
	r := startRestartable(t, "efrestart")
	pre := uniquePrefix("restart")

	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := &node{t: t, name: "a", prefix: pre, store: st, publishTimeout: time.Second}
	a.hub = events.New(st, events.Options{Ephemeral: api.EphemeralEvents})
	defer a.hub.Close()
	a.conn = r.connect(0)
	a.bus = newBus(t, a.conn, pre)

	mc := r.connect(1)
	mb := newBus(t, mc, pre)
	msrc := eventfeed.NewSource(mb, nil)
	mh, err := events.NewMirror(msrc, events.Options{Ephemeral: api.EphemeralEvents})
	if err != nil {
		t.Fatal(err)
	}
	defer mh.Close()
	ctx, cancel := context.WithCancel(context.Background())
	mdone := make(chan error, 1)
	go func() {
		mdone <- eventfeed.Mirror(ctx, eventfeed.MirrorConfig{Hub: mh, Source: msrc, Bus: mb, Conn: mc, Prefix: pre})
	}()
	defer func() {
		cancel()
		if err := <-mdone; err != nil {
			t.Errorf("mirror: %v", err)
		}
	}()
	live := collect(t, mh.Subscribe(nil))
	a.start(nil)
	defer a.stop()

	a.publish(api.EventTaskAdded, 0, 100)
	live.waitFor(t, 100)
	l := r.leader(a.conn, strings.ToUpper(pre)+"_EVENTS")
	t.Logf("the event stream's leader is server %d", l)
	r.nodes[l].Shutdown()
	a.publish(api.EventTaskAdded, 100, 100)
	r.start(l)
	if t.Failed() {
		t.FailNow()
	}
	a.publish(api.EventTaskAdded, 200, 100)
	got := live.waitFor(t, 300)
	checkOnce(t, got, 1, map[string]int{"a": 300})

	s := mh.Subscribe(nil)
	if n, err := mh.Replay(s, 0); err != nil || n != 300 {
		t.Fatalf("mirror Replay(0) = %d, %v; want 300", n, err)
	}
	replayed := collect(t, s).waitFor(t, 300)
	for i := range got {
		if string(replayed[i].raw) != string(got[i].raw) {
			t.Fatalf("replayed frame %d = %s, live %s", i, replayed[i].raw, got[i].raw)
		}
	}
}
