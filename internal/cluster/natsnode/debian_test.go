package natsnode_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// eventually runs f until it succeeds or d passes: what a node does while a
// stream or the JetStream meta group elects a leader.
func eventually(t *testing.T, what string, d time.Duration, f func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(d)
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

// tally counts deliveries per command ID (delivery is at least once).
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *tally) handle(_ context.Context, cmd bus.Command) (json.RawMessage, error) {
	c.mu.Lock()
	c.n[cmd.ID]++
	c.mu.Unlock()
	return json.RawMessage(fmt.Sprintf(`{"done":%q}`, cmd.ID)), nil
}

// missing returns the ids never delivered, and the count of redeliveries.
func (c *tally) missing(ids []string) (lost []string, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		switch n := c.n[id]; {
		case n == 0:
			lost = append(lost, id)
		case n > 1:
			dups += n - 1
		}
	}
	return lost, dups
}

// sender sends commands for node through b, one after the other, until
// stopped; a Send that fails is retried with the same ID (the stream stores
// a resend once). acked holds the IDs whose Send returned nil.
type sender struct {
	mu    sync.Mutex
	acked []string
	at    []time.Time // when each of acked was acknowledged
	fails int
	stop  chan struct{}
	done  chan struct{}
}

func startSender(b *bus.Bus, from, node string) *sender {
	s := &sender{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for i := 0; ; {
			select {
			case <-s.stop:
				return
			default:
			}
			id := fmt.Sprintf("%s-to-%s-%d", from, node, i)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			sent, err := b.Send(ctx, node, bus.Command{ID: id, Method: "m"})
			cancel()
			s.mu.Lock()
			if err == nil {
				sent.Close()
				s.acked = append(s.acked, id)
				s.at = append(s.at, time.Now())
				i++
			} else {
				s.fails++
			}
			s.mu.Unlock()
			if err != nil {
				time.Sleep(100 * time.Millisecond)
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	return s
}

func (s *sender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked)
}

// stall is the longest time since from without an acknowledgement: from
// from to the first one after it, or between two after it.
func (s *sender) stall(from time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var longest time.Duration
	prev := from
	for _, at := range s.at {
		if at.Before(from) {
			continue
		}
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	return longest
}

// waitAcked waits until at least n commands were acknowledged.
func (s *sender) waitAcked(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for s.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d commands acknowledged of %d wanted after %v", s.count(), n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sender) halt() (acked []string, fails int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.acked), s.fails
}

// liveIDs waits until m sees exactly want live, within d.
func liveIDs(t *testing.T, m *membership.Membership, d time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var got []string
		for _, n := range m.Live() {
			got = append(got, n.ID)
		}
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("live %v, want %v after %v", got, want, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replayAll returns every event, replayed through b.
func replayAll(t *testing.T, b *bus.Bus) []bus.Event {
	t.Helper()
	var evs []bus.Event
	eventually(t, "replay", 30*time.Second, func(ctx context.Context) error {
		var err error
		evs, err = b.Replay(ctx, 0, 100000)
		return err
	})
	return evs
}

// sameReplay checks that every bus replays the same events (sequence, node,
// name, data), that sequences run 1..n with no gap, and that every id in
// want is among them.
func sameReplay(t *testing.T, buses []*bus.Bus, want []string) {
	t.Helper()
	first := replayAll(t, buses[0])
	for i, e := range first {
		if e.Seq != uint64(i+1) {
			t.Fatalf("replay through server 0: event %d has seq %d", i, e.Seq)
		}
	}
	have := map[string]bool{}
	for _, e := range first {
		have[string(e.Data)] = true
	}
	for _, id := range want {
		if !have[fmt.Sprintf("%q", id)] {
			t.Fatalf("acknowledged event %s missing from the replay", id)
		}
	}
	for i, b := range buses[1:] {
		got := replayAll(t, b)
		if len(got) != len(first) {
			t.Fatalf("replay through server %d has %d events, through server 0 %d", i+1, len(got), len(first))
		}
		for j := range got {
			g, f := got[j], first[j]
			if g.Seq != f.Seq || g.Node != f.Node || g.Name != f.Name || string(g.Data) != string(f.Data) {
				t.Fatalf("replay through server %d differs at %d: %+v vs %+v", i+1, j, g, f)
			}
		}
	}
}

// Interop with Debian's nats-server (2.9.10) run as an external cluster of
// three servers with user and password: three nodes connect as clients,
// node i through server i, with membership and the bus on them. They see
// each other live; a command sent through server 0 reaches the node on
// server 2 and its result comes back; events replay identically through
// every server. Then the server leading LODESTONE_CMD is restarted while
// two senders keep sending, once stopped gracefully and once (the next
// leader) killed, each started again on the same config and store: every
// acknowledged command reaches its node (at least once), every
// acknowledged event is replayed identically through every server and
// reached the live subscription through every node in order, once; the
// node on the restarted server reconnects, and all three are live again.
func TestDebianExternalCluster(t *testing.T) {
	const user, pass = "lodestone", "interop-s3cret"
	d := natsnodetest.DebianCluster(t, 3, natsnodetest.DebianOptions{User: user, Password: pass})
	t.Logf("%s, clients at %v", d.Version(), d.URLs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The servers require the password.
	sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
	if n, err := natsnode.Start(sctx, natsnode.Options{Name: "stranger", URLs: d.URLs[:1]}); err == nil {
		n.Shutdown()
		t.Fatal("a client without the password was let in")
	}
	scancel()

	names := []string{"a", "b", "c"}
	nodes := make([]*natsnode.Node, 3)
	for i, name := range names {
		// Only server i's URL: the client learns the others from it
		// and fails over to them when server i goes away.
		n, err := natsnode.Start(ctx, natsnode.Options{Name: name, URLs: d.URLs[i : i+1], User: user, Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		if got := n.Conn.ConnectedUrl(); got != d.URLs[i] {
			t.Fatalf("node %s connected to %s, want %s", name, got, d.URLs[i])
		}
		if v := n.Conn.ConnectedServerVersion(); v != "2.9.10" {
			t.Logf("note: the server is %s, not Debian 12's 2.9.10", v)
		}
		nodes[i] = n
	}

	ms := make([]*membership.Membership, 3)
	for i, name := range names {
		m, err := membership.Join(ctx, membership.Config{
			JS: nodes[i].JS, NodeID: name, ClusterName: "lodestone-debian", APIURL: "http://" + name,
			Version: "test", TTL: 4 * time.Second, Replicas: 3,
			Status: func() membership.Status { return membership.Status{FreeDisk: 1 << 30} },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		ms[i] = m
	}
	for _, m := range ms {
		liveIDs(t, m, 10*time.Second, names...)
	}
	t.Logf("membership: limit markers %v (expiry by the local clock without them)", ms[0].Markers())

	cfg := bus.Default()
	cfg.Replicas = 3
	cfg.AckWait = 2 * time.Second
	cfg.RetryDelay = 50 * time.Millisecond
	cfg.EventMaxBytes = 16 << 20
	buses := make([]*bus.Bus, 3)
	for i := range buses {
		eventually(t, "bus.New", 30*time.Second, func(ctx context.Context) error {
			var err error
			buses[i], err = bus.New(ctx, nodes[i].Conn, cfg)
			return err
		})
	}
	receive := func(b *bus.Bus, node string) *tally {
		c := &tally{n: map[string]int{}}
		rctx, rcancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Receive(rctx, node, c.handle) }()
		t.Cleanup(func() {
			rcancel()
			if err := <-done; err != nil {
				t.Errorf("Receive for %s: %v", node, err)
			}
		})
		return c
	}
	atA, atC := receive(buses[0], "a"), receive(buses[2], "c")
	// A live subscription through every node runs all along.
	subs := make([]*bus.Subscription, 3)
	for i, b := range buses {
		sub, err := b.Subscribe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Close)
		subs[i] = sub
	}

	// A command through server 0 reaches node c on server 2, and its
	// result comes back.
	for i := range 5 {
		id := fmt.Sprintf("first-%d", i)
		var sent *bus.Sent
		eventually(t, "send "+id, 30*time.Second, func(ctx context.Context) error {
			var err error
			sent, err = buses[0].Send(ctx, "c", bus.Command{ID: id, Method: "m"})
			return err
		})
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		res, err := sent.Result(rctx)
		rcancel()
		if err != nil {
			t.Fatalf("result of %s: %v", id, err)
		}
		if want := fmt.Sprintf(`{"done":%q}`, id); res.ID != id || string(res.Result) != want || res.Error != "" {
			t.Fatalf("result of %s: %+v", id, res)
		}
	}

	// Events from every node replay identically through every server.
	var events []string
	publish := func(b *bus.Bus, node string, n int) {
		for range n {
			id := fmt.Sprintf("ev-%d", len(events))
			eventually(t, "publish "+id, 30*time.Second, func(ctx context.Context) error {
				_, err := b.Publish(ctx, node, "e", json.RawMessage(fmt.Sprintf("%q", id)), bus.WithID(id))
				return err
			})
			events = append(events, id)
		}
	}
	for i, b := range buses {
		publish(b, names[i], 4)
	}
	sameReplay(t, buses, events)

	// Restart the command stream's leader while commands flow: first
	// gracefully (SIGTERM: the server hands its leaderships over), then
	// the new leader by SIGKILL (its peers must notice and elect).
	toC := startSender(buses[0], "a", "c")
	toA := startSender(buses[1], "b", "a")
	toC.waitAcked(t, 10, 30*time.Second)
	toA.waitAcked(t, 10, 30*time.Second)
	var restarted []int
	for _, how := range []struct {
		name string
		stop func(int)
	}{{"stop", d.Stop}, {"kill", d.Kill}} {
		l := d.StreamLeader("LODESTONE_CMD")
		restarted = append(restarted, l)
		reconnects := nodes[l].Conn.Stats().Reconnects
		t.Logf("%s %s, leader of LODESTONE_CMD, after %d+%d acknowledged commands", how.name, d.Names[l], toC.count(), toA.count())
		stopped := time.Now()
		how.stop(l)
		publish(buses[(l+1)%3], names[(l+1)%3], 5) // events while the leader is away
		beforeC, beforeA := toC.count(), toA.count()
		toC.waitAcked(t, beforeC+10, 60*time.Second)
		toA.waitAcked(t, beforeA+10, 60*time.Second)
		t.Logf("%d+%d more acknowledged while %s was down (%v)", toC.count()-beforeC, toA.count()-beforeA, d.Names[l], time.Since(stopped).Round(time.Millisecond))
		d.Start(l)
		t.Logf("%s back after %v", d.Names[l], time.Since(stopped).Round(time.Millisecond))
		publish(buses[l], names[l], 5) // through the node on the restarted server
		beforeC, beforeA = toC.count(), toA.count()
		toC.waitAcked(t, beforeC+10, 60*time.Second)
		toA.waitAcked(t, beforeA+10, 60*time.Second)
		t.Logf("%s: longest wait for an acknowledgement since: %v (sender through %s), %v (through %s)", how.name,
			toC.stall(stopped).Round(time.Millisecond), d.Names[0], toA.stall(stopped).Round(time.Millisecond), d.Names[1])
		if got := nodes[l].Conn.Stats().Reconnects; got <= reconnects {
			t.Fatalf("node %s on the restarted server did not reconnect (%d reconnects)", names[l], got)
		}
	}
	ackedC, failsC := toC.halt()
	ackedA, failsA := toA.halt()

	for _, r := range []struct {
		node  string
		got   *tally
		acked []string
		fails int
	}{{"c", atC, ackedC, failsC}, {"a", atA, ackedA, failsA}} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			lost, dups := r.got.missing(r.acked)
			if len(lost) == 0 {
				t.Logf("node %s: all %d acknowledged commands arrived (%d redeliveries, %d failed sends retried)", r.node, len(r.acked), dups, r.fails)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: %d of %d acknowledged commands never arrived: %v", r.node, len(lost), len(r.acked), lost)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, n := range nodes {
		if !n.Conn.IsConnected() {
			t.Fatalf("node %s is not connected", names[i])
		}
	}
	for _, m := range ms {
		liveIDs(t, m, 15*time.Second, names...)
	}
	sameReplay(t, buses, events)
	t.Logf("%d events replay identically through the three servers", len(events))
	for i, sub := range subs {
		for want := uint64(1); want <= uint64(len(events)); want++ {
			select {
			case e := <-sub.C():
				if e.Seq != want {
					t.Fatalf("subscription through %s: seq %d, want %d", d.Names[i], e.Seq, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("subscription through %s stalled before seq %d", d.Names[i], want)
			}
		}
	}

	// The stream is R3 on all three servers again.
	eventually(t, "replicas current", 30*time.Second, func(ctx context.Context) error {
		s, err := nodes[restarted[len(restarted)-1]].JS.Stream(ctx, "LODESTONE_CMD")
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("cluster info %+v", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current {
				return fmt.Errorf("replica %s not current", r.Name)
			}
		}
		return nil
	})
}

// Debian's nats-server with a certificate speaks TLS only: a node that
// trusts the CA connects with its password and JetStream answers; a client
// that does not trust it is refused.
func TestDebianTLS(t *testing.T) {
	ca, cert, key := writeCerts(t)
	d := natsnodetest.DebianCluster(t, 1, natsnodetest.DebianOptions{User: "lodestone", Password: "tls-s3cret", TLSCA: ca, TLSCert: cert, TLSKey: key})
	ctx := ctxT(t)
	n, err := natsnode.Start(ctx, natsnode.Options{Name: "a", URLs: d.URLs, User: "lodestone", Password: "tls-s3cret", TLSCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	if !n.Conn.TLSRequired() {
		t.Fatal("the connection is not TLS")
	}
	if _, err := n.JS.AccountInfo(ctx); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if m, err := natsnode.Start(sctx, natsnode.Options{Name: "b", URLs: d.URLs, User: "lodestone", Password: "tls-s3cret"}); err == nil {
		m.Shutdown()
		t.Fatal("a client without the CA accepted the server's certificate")
	}
}

func TestUnsafeCAS(t *testing.T) {
	for v, want := range map[string]bool{
		"2.9.10": true, "2.9.20": true, "2.8.4": true, "1.4.1": true, "2.9.10-beta.1": true,
		"2.9.21": false, "2.10.0": false, "2.11.3": false, "2.15.3": false, "": false, "x.y": false,
	} {
		if got := natsnode.UnsafeCAS(v); got != want {
			t.Errorf("UnsafeCAS(%q) = %v, want %v", v, got, want)
		}
	}
}

// A node connecting to Debian's 2.9.10 warns that its compare-and-set is
// not atomic across servers; one connecting to our embedded 2.15 does not.
func TestDebianUnsafeCASWarning(t *testing.T) {
	d := natsnodetest.DebianCluster(t, 1, natsnodetest.DebianOptions{})
	embedded := natsnodetest.Cluster(t, "lodestone-test", 1)
	ctx := ctxT(t)
	for _, tc := range []struct {
		url  string
		warn bool
	}{{d.URLs[0], true}, {embedded[0].ClientURL(), false}} {
		h := &recordHandler{}
		n, err := natsnode.Start(ctx, natsnode.Options{Name: "a", URLs: []string{tc.url}, Logger: slog.New(h)})
		if err != nil {
			t.Fatal(err)
		}
		version := n.Conn.ConnectedServerVersion()
		n.Shutdown()
		if got := h.has("compare-and-set is not atomic"); got != tc.warn {
			t.Errorf("server %s: warned %v, want %v", version, got, tc.warn)
		}
	}
}

// recordHandler is a slog handler that keeps every record's message.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}

func (h *recordHandler) has(part string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if strings.Contains(m, part) {
			return true
		}
	}
	return false
}
