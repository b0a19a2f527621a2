package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
)

// TestMain fails the package if a server, connection, handler or call
// goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLog is the logger of the servers under test: warnings and errors
// only, so a failing run shows what Serve complained about.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serve runs h as node on nd's connection until the test ends, and waits
// until every server of the cluster knows the subscription, so calls
// through any server find it.
func serve(t *testing.T, nodes []*natsnode.Node, nd *natsnode.Node, prefix, node string, h rpc.Handler) (stop func()) {
	t.Helper()
	stop, err := rpc.Serve(context.Background(), nd.Conn, prefix, node, h, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	waitInterest(t, nodes, rpc.Subject(prefix, node), true)
	return stop
}

// waitInterest waits until every server sees (want) or no longer sees a
// subscriber of subject; routes carry subscriptions asynchronously.
func waitInterest(t *testing.T, nodes []*natsnode.Node, subject string, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, nd := range nodes {
		for nd.Server.GlobalAccount().SubscriptionInterest(subject) != want {
			if time.Now().After(deadline) {
				t.Fatalf("server %s: interest in %s is not %v after 30 s", nd.Server.Name(), subject, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// echo answers every method with {"method", "params"}.
func echo(_ context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if len(params) == 0 {
		params = json.RawMessage("null")
	}
	return json.Marshal(map[string]any{"method": method, "params": params})
}

// apiCode returns err's *api.Error, failing the test if there is none.
func apiCode(t *testing.T, err error) *api.Error {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *api.Error", err, err)
	}
	return ae
}

// TestRPC runs every case on one cluster of three routed servers (starting
// one costs seconds); each case has its own subject prefix. Node "b" is
// served through server 2 and called through server 0 unless a case says
// otherwise, so every answer crosses a route.
func TestRPC(t *testing.T) {
	nodes := natsnodetest.Cluster(t, "rpc", 3)
	cases := []struct {
		name string
		run  func(t *testing.T, nodes []*natsnode.Node, prefix string)
	}{
		{"AcrossServers", testAcrossServers},
		{"APIErrorRoundTrip", testAPIErrorRoundTrip},
		{"NoResponderFast", testNoResponderFast},
		{"SlowHandlerBeyondContext", testSlowHandler},
		{"ChunkedAnswer5MB", testChunked},
		{"ConcurrentCallsNeverMix", testConcurrent},
		{"InFlightBounded", testInFlightBounded},
		{"LostOrShortPartsRefused", testLostParts},
		{"CallAllOneAbsent", testCallAll},
		{"StopCancelsHandlers", testStop},
		{"CutOffFromNATS", testCutOff},
		{"ParamsTooLarge", testParamsTooLarge},
		{"BadNames", testBadNames},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, nodes, fmt.Sprintf("t%d", i)) })
	}
}

// A call through server 0 reaches the handler served through server 2 with
// its method and params, and gets its result; a nil result is null.
func testAcrossServers(t *testing.T, nodes []*natsnode.Node, prefix string) {
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if method == "task.nothing" {
			return nil, nil
		}
		return echo(ctx, method, params)
	})
	res, err := rpc.Call(t.Context(), nodes[0].Conn, prefix, "b", "task.get", json.RawMessage(`{"task_id":"ab"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"method":"task.get","params":{"task_id":"ab"}}`; string(res) != want {
		t.Errorf("result %s, want %s", res, want)
	}
	res, err = rpc.Call(t.Context(), nodes[1].Conn, prefix, "b", "task.nothing", nil)
	if err != nil || string(res) != "null" {
		t.Errorf("nil result: %s, %v; want null", res, err)
	}
}

// The remote handler's *api.Error, even wrapped, comes back with its code
// and message; a plain error and a panic come back as internal, and the
// server goes on serving after the panic.
func testAPIErrorRoundTrip(t *testing.T, nodes []*natsnode.Node, prefix string) {
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		switch method {
		case "task.get":
			return nil, fmt.Errorf("service: %w", &api.Error{Code: api.CodeTaskNotFound, Message: "no task with id " + string(params)})
		case "task.files":
			return nil, errors.New("disk on fire")
		case "task.peers":
			panic("boom")
		}
		return echo(ctx, method, params)
	})
	nc := nodes[0].Conn
	_, err := rpc.Call(t.Context(), nc, prefix, "b", "task.get", json.RawMessage(`"ab12"`))
	if ae := apiCode(t, err); ae.Code != api.CodeTaskNotFound || ae.Message != `no task with id "ab12"` {
		t.Errorf("got %d %q, want %d and the handler's message", ae.Code, ae.Message, api.CodeTaskNotFound)
	}
	_, err = rpc.Call(t.Context(), nc, prefix, "b", "task.files", nil)
	if ae := apiCode(t, err); ae.Code != api.CodeInternal || !strings.Contains(ae.Message, "disk on fire") {
		t.Errorf("plain error: got %d %q, want internal with the message", ae.Code, ae.Message)
	}
	_, err = rpc.Call(t.Context(), nc, prefix, "b", "task.peers", nil)
	if ae := apiCode(t, err); ae.Code != api.CodeInternal || !strings.Contains(ae.Message, "panic") {
		t.Errorf("panic: got %d %q, want internal", ae.Code, ae.Message)
	}
	if _, err := rpc.Call(t.Context(), nc, prefix, "b", "task.trackers", nil); err != nil {
		t.Errorf("after the panic: %v", err)
	}
}

// A node nobody serves answers 215 at once: the call returns before its
// context ends, because the server says there are no responders.
func testNoResponderFast(t *testing.T, nodes []*natsnode.Node, prefix string) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := rpc.Call(ctx, nodes[0].Conn, prefix, "ghost", "task.get", nil)
	ae := apiCode(t, err)
	if ae.Code != api.CodeNodeUnavailable || !strings.Contains(ae.Message, "node ghost did not answer: no responders") {
		t.Errorf("got %d %q, want 215 no responders", ae.Code, ae.Message)
	}
	if ctx.Err() != nil {
		t.Errorf("the call waited for its context (%v) instead of failing fast", ctx.Err())
	}
}

// A handler slower than the caller's context: the call ends with 215 when
// its context does, and the handler's own context ends too, because the
// caller's time travels with the request.
func testSlowHandler(t *testing.T, nodes []*natsnode.Node, prefix string) {
	handlerDone := make(chan error, 1)
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		select {
		case <-ctx.Done():
			handlerDone <- ctx.Err()
			return nil, ctx.Err()
		case <-time.After(time.Minute):
			handlerDone <- errors.New("the handler's context did not end within a minute")
			return nil, nil
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "task.get", nil)
	if ctx.Err() == nil {
		t.Errorf("the call returned (%v) before its context ended", err)
	}
	ae := apiCode(t, err)
	if ae.Code != api.CodeNodeUnavailable || !strings.Contains(ae.Message, "node b did not answer: context deadline exceeded") {
		t.Errorf("got %d %q, want 215 deadline exceeded", ae.Code, ae.Message)
	}
	if err := <-handlerDone; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("handler's context: %v, want deadline exceeded", err)
	}
}

// randomBytes returns n pseudo-random bytes (every value, NUL included)
// from seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// A 5 MB answer, larger than the servers' 1 MB max payload, arrives byte
// for byte; a spy on the inboxes sees it go as 20 parts of 256 KiB.
func testChunked(t *testing.T, nodes []*natsnode.Node, prefix string) {
	const size = 5_000_000
	want := randomBytes(1, size)
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		return want, nil
	})
	if mp := nodes[2].Conn.MaxPayload(); mp >= size {
		t.Fatalf("max payload %d: the answer would fit in one message", mp)
	}
	var parts atomic.Int32
	spy, err := nodes[1].Conn.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if m.Header.Get("Lodestone-Rpc-Part") != "" && len(m.Data) <= rpc.ChunkSize && len(m.Data) > 0 {
			parts.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Unsubscribe()
	waitInterest(t, nodes, "_INBOX.x", true)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	got, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "task.list", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer of %d bytes differs from the %d sent", len(got), len(want))
	}
	if err := nodes[1].Conn.Flush(); err != nil {
		t.Fatal(err)
	}
	wantParts := int32((size + rpc.ChunkSize - 1) / rpc.ChunkSize)
	for deadline := time.Now().Add(10 * time.Second); parts.Load() < wantParts && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := parts.Load(); n != wantParts {
		t.Errorf("the spy saw %d parts, want %d", n, wantParts)
	}
}

// 200 concurrent calls through two servers, each with its own answer (every
// tenth one 1.2 MB of hex, so five parts), each get exactly their own answer.
func testConcurrent(t *testing.T, nodes []*natsnode.Node, prefix string) {
	answer := func(i int) []byte {
		n := 40 + i
		if i%10 == 0 {
			n = 600_000 + i
		}
		b := randomBytes(uint64(i)+100, n)
		return fmt.Appendf(nil, "%d:%x", i, b)
	}
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		var i int
		if err := json.Unmarshal(params, &i); err != nil {
			return nil, &api.Error{Code: api.CodeInvalidParams, Message: err.Error()}
		}
		// Scatter the answers' order.
		time.Sleep(time.Duration(i%7) * time.Millisecond)
		return answer(i), nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			got, err := rpc.Call(ctx, nodes[i%2].Conn, prefix, "b", "task.get", fmt.Appendf(nil, "%d", i))
			switch {
			case err != nil:
				errs <- fmt.Errorf("call %d: %w", i, err)
			case !bytes.Equal(got, answer(i)):
				head, _, _ := bytes.Cut(got, []byte(":"))
				errs <- fmt.Errorf("call %d got the answer of %q (%d bytes)", i, head, len(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// CallAll over a, b and an absent c: a and b answer (each its own node's
// answer), c is 215 with no responders; the absent node does not hold the
// others back until the context ends.
func testCallAll(t *testing.T, nodes []*natsnode.Node, prefix string) {
	for i, node := range []string{"a", "b"} {
		serve(t, nodes, nodes[i], prefix, node, func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
			return json.Marshal(map[string]string{"node": node, "method": method})
		})
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	got := rpc.CallAll(ctx, nodes[2].Conn, prefix, []string{"a", "b", "c", "a"}, "task.list", json.RawMessage(`{}`))
	if len(got) != 3 {
		t.Errorf("%d replies, want 3 (a, b, c): %v", len(got), got)
	}
	for _, node := range []string{"a", "b"} {
		r := got[node]
		if want := `{"method":"task.list","node":"` + node + `"}`; r.Err != nil || string(r.Result) != want {
			t.Errorf("node %s: %s, %v; want %s", node, r.Result, r.Err, want)
		}
	}
	if ae := apiCode(t, got["c"].Err); ae.Code != api.CodeNodeUnavailable || got["c"].Result != nil {
		t.Errorf("absent node c: %d %q, result %s; want 215 and no result", ae.Code, ae.Message, got["c"].Result)
	}
	if ctx.Err() != nil {
		t.Error("CallAll waited for its context: the absent node held it back")
	}
}

// stop while a handler runs: the handler's context ends, its caller gets
// 215 "stopped" at once (not at its deadline), stop returns after the
// handler, and a later call finds no responder. Serve's own context
// ending stops it the same way.
func testStop(t *testing.T, nodes []*natsnode.Node, prefix string) {
	started := make(chan struct{}, 1)
	block := func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	stop := serve(t, nodes, nodes[2], prefix, "b", block)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "task.get", nil)
		errc <- err
	}()
	<-started
	stop()
	ae := apiCode(t, <-errc)
	if ae.Code != api.CodeNodeUnavailable || !strings.Contains(ae.Message, "stopped while answering") {
		t.Errorf("got %d %q, want 215 stopped while answering", ae.Code, ae.Message)
	}
	if ctx.Err() != nil {
		t.Error("the caller waited for its deadline")
	}
	stop() // again: no effect
	waitInterest(t, nodes, rpc.Subject(prefix, "b"), false)
	_, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "task.get", nil)
	if ae := apiCode(t, err); ae.Code != api.CodeNodeUnavailable || !strings.Contains(ae.Message, "no responders") {
		t.Errorf("after stop: %d %q, want 215 no responders", ae.Code, ae.Message)
	}

	sctx, scancel := context.WithCancel(t.Context())
	if _, err := rpc.Serve(sctx, nodes[1].Conn, prefix, "c", echo, testLog(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := rpc.Call(ctx, nodes[1].Conn, prefix, "c", "task.get", nil); err != nil {
		t.Fatal(err)
	}
	scancel()
	waitInterest(t, nodes, rpc.Subject(prefix, "c"), false)
}

// A call on a connection that is closed is 216: this node is cut off, not
// the other one down.
func testCutOff(t *testing.T, nodes []*natsnode.Node, prefix string) {
	nc, err := nats.Connect(nodes[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	_, err = rpc.Call(t.Context(), nc, prefix, "b", "task.get", nil)
	if ae := apiCode(t, err); ae.Code != api.CodeClusterUnavailable {
		t.Errorf("got %d %q, want 216", ae.Code, ae.Message)
	}
}

// Params that do not fit in one message are refused before sending, with
// ErrTooLarge; the handler never sees them.
func testParamsTooLarge(t *testing.T, nodes []*natsnode.Node, prefix string) {
	var called atomic.Bool
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		called.Store(true)
		return nil, nil
	})
	big := make([]byte, nodes[0].Conn.MaxPayload())
	_, err := rpc.Call(t.Context(), nodes[0].Conn, prefix, "b", "task.add", big)
	if !errors.Is(err, rpc.ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
	if _, err := rpc.Call(t.Context(), nodes[0].Conn, prefix, "b", "task.get", nil); err != nil || !called.Load() {
		t.Fatalf("a small call after: %v (handler called: %v)", err, called.Load())
	}
}

// Names that would change a subject's shape are refused by both sides.
func testBadNames(t *testing.T, nodes []*natsnode.Node, prefix string) {
	nc := nodes[0].Conn
	for _, bad := range []string{"", "a.b", "a*", ">", "a b", "n\u00e9"} {
		if _, err := rpc.Serve(t.Context(), nc, prefix, bad, echo, nil); !errors.Is(err, rpc.ErrBadName) {
			t.Errorf("Serve node %q: %v, want ErrBadName", bad, err)
		}
		if _, err := rpc.Call(t.Context(), nc, prefix, bad, "task.get", nil); !errors.Is(err, rpc.ErrBadName) {
			t.Errorf("Call node %q: %v, want ErrBadName", bad, err)
		}
		if _, err := rpc.Call(t.Context(), nc, bad, "b", "task.get", nil); !errors.Is(err, rpc.ErrBadName) {
			t.Errorf("Call prefix %q: %v, want ErrBadName", bad, err)
		}
	}
}

// 100 calls at once to a handler that blocks: at most MaxInFlight run at
// once (and that many do), the rest wait for a slot, and all 100 are
// answered once the handlers are let go.
func testInFlightBounded(t *testing.T, nodes []*natsnode.Node, prefix string) {
	const calls = 100
	var running, most atomic.Int32
	release := make(chan struct{})
	serve(t, nodes, nodes[2], prefix, "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-release:
			return params, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			got, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "task.get", fmt.Appendf(nil, "%d", i))
			if err == nil && string(got) != fmt.Sprint(i) {
				err = fmt.Errorf("answer %s", got)
			}
			if err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
			}
		})
	}
	for running.Load() < rpc.MaxInFlight && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if m := most.Load(); m != rpc.MaxInFlight {
		t.Errorf("at most %d handlers ran at once, want %d", m, rpc.MaxInFlight)
	}
}

// A server with a max payload of 64 KiB, smaller than ChunkSize: answers go
// in parts that fit it, and a 1 MB answer arrives byte for byte.
func TestSmallMaxPayload(t *testing.T) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, MaxPayload: 64 << 10, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	defer s.Shutdown()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	want := randomBytes(7, 1_000_000)
	stop, err := rpc.Serve(t.Context(), nc, "small", "b", func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		return want, nil
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var parts atomic.Int32
	spy, err := nc.Subscribe("_INBOX.>", func(m *nats.Msg) {
		if m.Header.Get("Lodestone-Rpc-Part") != "" {
			parts.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Unsubscribe()
	got, err := rpc.Call(t.Context(), nc, "small", "b", "task.list", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer of %d bytes differs from the %d sent", len(got), len(want))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// 64 KiB less the 4 KiB kept for headers: 60 KiB parts.
	wantParts := int32((len(want) + 60<<10 - 1) / (60 << 10))
	for deadline := time.Now().Add(10 * time.Second); parts.Load() < wantParts && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := parts.Load(); n != wantParts {
		t.Errorf("%d parts, want %d", n, wantParts)
	}
}

// A responder (hand-made here, since Serve never sends one) whose answer
// skips a part, or is shorter than its size header: Call refuses it rather
// than return a corrupt answer; a whole answer from the same responder
// passes.
func testLostParts(t *testing.T, nodes []*natsnode.Node, prefix string) {
	type part struct{ hdr, size, data string }
	answers := map[string][]part{
		"gap":   {{"0/3", "9", "abc"}, {"2/3", "", "ghi"}},
		"short": {{"0/2", "9", "abc"}, {"1/2", "", "def"}},
		"whole": {{"0/3", "9", "abc"}, {"1/3", "", "def"}, {"2/3", "", "ghi"}},
	}
	sub, err := nodes[2].Conn.Subscribe(rpc.Subject(prefix, "b"), func(m *nats.Msg) {
		for _, p := range answers[m.Header.Get("Lodestone-Rpc-Method")] {
			r := nats.NewMsg(m.Reply)
			r.Header.Set("Lodestone-Rpc-Status", "ok")
			r.Header.Set("Lodestone-Rpc-Part", p.hdr)
			if p.size != "" {
				r.Header.Set("Lodestone-Rpc-Size", p.size)
			}
			r.Data = []byte(p.data)
			_ = nodes[2].Conn.PublishMsg(r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	waitInterest(t, nodes, rpc.Subject(prefix, "b"), true)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = rpc.Call(ctx, nodes[0].Conn, prefix, "b", "gap", nil)
	if ae := apiCode(t, err); ae.Code != api.CodeNodeUnavailable || !strings.Contains(ae.Message, "part 2 of 3") {
		t.Errorf("gap: %d %q, want 215 naming part 2 of 3", ae.Code, ae.Message)
	}
	if _, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "short", nil); err == nil || !strings.Contains(err.Error(), "shorter") {
		t.Errorf("short: %v, want an error saying it is shorter", err)
	}
	if got, err := rpc.Call(ctx, nodes[0].Conn, prefix, "b", "whole", nil); err != nil || string(got) != "abcdefghi" {
		t.Errorf("whole: %q, %v", got, err)
	}
	if ctx.Err() != nil {
		t.Error("a refused answer waited for the deadline")
	}
}
