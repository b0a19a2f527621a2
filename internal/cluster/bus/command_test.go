package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
)

// receiver runs b.Receive for node in the background; stop ends it and
// returns Receive's error.
func receiver(t *testing.T, b *bus.Bus, node string, h bus.Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		err := b.Receive(ctx, node, h)
		if ctx.Err() == nil {
			t.Errorf("Receive for %s ended early: %v", node, err)
		}
		errc <- err
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// recorder is a handler that records the commands it saw, in order.
type recorder struct {
	mu   sync.Mutex
	seen []bus.Command
	fail func(cmd bus.Command, attempt int) error
	got  chan bus.Command
}

func newRecorder() *recorder { return &recorder{got: make(chan bus.Command, 1024)} }

func (r *recorder) handle(_ context.Context, cmd bus.Command) (json.RawMessage, error) {
	r.mu.Lock()
	r.seen = append(r.seen, cmd)
	attempt := 0
	for _, c := range r.seen {
		if c.ID == cmd.ID {
			attempt++
		}
	}
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(cmd, attempt); err != nil {
			return nil, err
		}
	}
	r.got <- cmd
	return json.RawMessage(fmt.Sprintf(`{"done":%q}`, cmd.ID)), nil
}

func (r *recorder) attempts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.seen {
		if c.ID == id {
			n++
		}
	}
	return n
}

// waitFor reads n successful commands from r, failing after a deadline.
func (r *recorder) waitFor(t *testing.T, n int) []bus.Command {
	t.Helper()
	var out []bus.Command
	deadline := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case c := <-r.got:
			out = append(out, c)
		case <-deadline:
			t.Fatalf("got %d of %d commands: %v", len(out), n, out)
		}
	}
	return out
}

func send(t *testing.T, b *bus.Bus, node string, cmd bus.Command) *bus.Sent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.Send(ctx, node, cmd)
	if err != nil {
		t.Fatalf("send %s: %v", cmd.ID, err)
	}
	return s
}

func cmdStreamMsgs(t *testing.T, nc *nats.Conn, name string) uint64 {
	t.Helper()
	return streamState(t, nc, name).Msgs
}

func streamConsumers(t *testing.T, nc *nats.Conn, name string) int {
	t.Helper()
	return streamState(t, nc, name).Consumers
}

func streamState(t *testing.T, nc *nats.Conn, name string) jetstream.StreamState {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// TestCommandsWaitForAbsentNode: commands sent through server 0 for a node
// that is not running are stored (Send returned), and reach it, in order,
// when it connects through server 2; the sender gets each result; acked
// commands leave the work queue.
func TestCommandsWaitForAbsentNode(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	sender := newBus(t, c.connect(0), testConfig(pre))
	var sent []*bus.Sent
	for i := range 5 {
		s := send(t, sender, "b", bus.Command{ID: fmt.Sprintf("c%d", i), Method: "task.pause", Params: json.RawMessage(`{"id":"t"}`)})
		if s.Seq == 0 || s.Duplicate {
			t.Fatalf("command %d: seq %d duplicate %v", i, s.Seq, s.Duplicate)
		}
		sent = append(sent, s)
	}
	if n := cmdStreamMsgs(t, c.connect(1), strings.ToUpper(pre)+"_CMD"); n != 5 {
		t.Fatalf("stream holds %d commands before the node came, want 5", n)
	}

	rec := newRecorder()
	node := newBus(t, c.connect(2), testConfig(pre))
	receiver(t, node, "b", rec.handle)
	got := rec.waitFor(t, 5)
	for i, cmd := range got {
		if want := fmt.Sprintf("c%d", i); cmd.ID != want || cmd.Method != "task.pause" || string(cmd.Params) != `{"id":"t"}` {
			t.Errorf("command %d = %+v, want id %s", i, cmd, want)
		}
	}
	for i, s := range sent {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := s.Result(ctx)
		cancel()
		if err != nil || r.ID != fmt.Sprintf("c%d", i) || r.Error != "" || string(r.Result) != fmt.Sprintf(`{"done":"c%d"}`, i) {
			t.Errorf("result %d = %+v, %v", i, r, err)
		}
	}
	waitUntil(t, "acked commands leave the stream", func() bool { return cmdStreamMsgs(t, c.connect(0), strings.ToUpper(pre)+"_CMD") == 0 })
}

// TestCommandRetriesAndDeadLetter: a handler error brings the command back
// until it succeeds; a command that fails MaxDeliver times goes to the
// dead-letter stream, its sender gets the error, and it is not tried again.
func TestCommandRetriesAndDeadLetter(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	cfg := testConfig(pre)
	sender := newBus(t, c.connect(0), cfg)
	rec := newRecorder()
	rec.fail = func(cmd bus.Command, attempt int) error {
		if cmd.ID == "flaky" && attempt < 3 || cmd.ID == "broken" {
			return fmt.Errorf("attempt %d fails", attempt)
		}
		return nil
	}
	receiver(t, newBus(t, c.connect(1), cfg), "n1", rec.handle)

	flaky := send(t, sender, "n1", bus.Command{ID: "flaky", Method: "m"})
	broken := send(t, sender, "n1", bus.Command{ID: "broken", Method: "m"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := flaky.Result(ctx)
	if err != nil || r.Error != "" {
		t.Fatalf("flaky result %+v, %v", r, err)
	}
	if n := rec.attempts("flaky"); n != 3 {
		t.Errorf("flaky handled %d times, want 3", n)
	}
	r, err = broken.Result(ctx)
	if err != nil || r.Error != "attempt 3 fails" {
		t.Fatalf("broken result %+v, %v; want its last error", r, err)
	}
	dead, err := sender.DeadLetters(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].Command.ID != "broken" || dead[0].Node != "n1" || dead[0].Error != "attempt 3 fails" {
		t.Fatalf("dead letters = %+v", dead)
	}
	// A later command is handled, and "broken" was not tried again.
	send(t, sender, "n1", bus.Command{ID: "after", Method: "m"}).Close()
	rec.waitFor(t, 2) // flaky, after
	if n := rec.attempts("broken"); n != cfg.MaxDeliver {
		t.Errorf("broken tried %d times, want %d", n, cfg.MaxDeliver)
	}
	waitUntil(t, "the work queue empties", func() bool { return cmdStreamMsgs(t, c.connect(0), strings.ToUpper(pre)+"_CMD") == 0 })
}

// TestCommandResendStoredOnce: a resend with the same ID inside the
// duplicate window is acknowledged as a duplicate of the first and handled
// once.
func TestCommandResendStoredOnce(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	b0 := newBus(t, c.connect(0), testConfig(pre))
	b1 := newBus(t, c.connect(1), testConfig(pre))
	first := send(t, b0, "n", bus.Command{ID: "same", Method: "m"})
	first.Close()
	again := send(t, b1, "n", bus.Command{ID: "same", Method: "m"}) // a retry from another node
	if !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("resend: seq %d duplicate %v, want seq %d duplicate", again.Seq, again.Duplicate, first.Seq)
	}
	if _, err := again.Result(context.Background()); !errors.Is(err, bus.ErrDuplicate) {
		t.Fatalf("resend result err %v, want ErrDuplicate", err)
	}
	send(t, b0, "n", bus.Command{ID: "marker", Method: "m"}).Close()
	rec := newRecorder()
	receiver(t, newBus(t, c.connect(2), testConfig(pre)), "n", rec.handle)
	got := rec.waitFor(t, 2)
	if got[0].ID != "same" || got[1].ID != "marker" || rec.attempts("same") != 1 {
		t.Fatalf("handled %v, want same once then marker", got)
	}
}

// TestCommandRedeliveredAfterCrash: a node whose connection dies after its
// handler ran but before the ack gets the command again when it comes back
// (after AckWait), so a crash loses nothing.
func TestCommandRedeliveredAfterCrash(t *testing.T) {
	c := sharedCluster(t)
	pre := uniquePrefix("t")
	cfg := testConfig(pre)
	sender := newBus(t, c.connect(0), cfg)
	ncNode := c.connect(1)
	node := newBus(t, ncNode, cfg)
	entered := make(chan struct{})
	crashed := make(chan struct{})
	stop := receiver(t, node, "n", func(ctx context.Context, cmd bus.Command) (json.RawMessage, error) {
		close(entered)
		<-crashed
		return nil, nil // too late: the connection is gone, the ack cannot go out
	})
	send(t, sender, "n", bus.Command{ID: "c1", Method: "m"}).Close()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("command never delivered")
	}
	ncNode.Close() // the node crashes mid-command
	close(crashed)
	_ = stop()

	rec := newRecorder()
	receiver(t, newBus(t, c.connect(2), cfg), "n", rec.handle)
	if got := rec.waitFor(t, 1); got[0].ID != "c1" {
		t.Fatalf("after the crash got %v, want c1 again", got)
	}
}

// waitUntil polls cond until it holds or a deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
