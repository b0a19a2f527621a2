package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const headerEvent = "Lodestone-Event"

// Event is one event in the cluster-wide stream.
type Event struct {
	// Seq is the stream sequence: the cluster-wide event id.
	Seq  uint64
	Node string
	Name string
	Data json.RawMessage
	// Time is when the stream stored it.
	Time time.Time
}

// PublishOption changes one Publish.
type PublishOption func(*nats.Msg, *[]jetstream.PublishOpt)

// WithID sets the event's message id: a second publish with the same id
// within the duplicate window is not stored again, and Publish returns the
// first one's sequence. Use FinishedID for task.finished.
func WithID(id string) PublishOption {
	return func(_ *nats.Msg, o *[]jetstream.PublishOpt) { *o = append(*o, jetstream.WithMsgID(id)) }
}

// FinishedID is the deterministic message id of task.finished for a task's
// generation (which changes when the task is re-added or re-placed), so a
// node that republishes it after a crash does not send it twice.
func FinishedID(task string, generation uint64) string {
	return "finished:" + task + ":" + strconv.FormatUint(generation, 10)
}

// Publish stores an event from node and returns its cluster-wide id once
// JetStream acknowledged it. With WithID, a duplicate returns the stored
// event's id.
func (b *Bus) Publish(ctx context.Context, node, name string, data json.RawMessage, opts ...PublishOption) (uint64, error) {
	if err := validToken(node); err != nil {
		return 0, err
	}
	msg := &nats.Msg{
		Subject: b.cfg.Prefix + ".events." + node,
		Data:    data,
		Header:  nats.Header{headerEvent: []string{name}},
	}
	popts := []jetstream.PublishOpt{jetstream.WithExpectStream(b.eventStream)}
	for _, o := range opts {
		o(msg, &popts)
	}
	ack, err := b.js.PublishMsg(ctx, msg, popts...)
	if err != nil {
		return 0, fmt.Errorf("bus: publish %s from %s: %w", name, node, err)
	}
	return ack.Sequence, nil
}

// Replay returns up to limit events with a sequence above after, in
// sequence order, with no gap: every event stored up to the last one
// returned is in the answer, except those the stream's age or size limit
// already removed (then the answer starts at the oldest kept). It answers
// the same from any node's connection.
func (b *Bus) Replay(ctx context.Context, after uint64, limit int) ([]Event, error) {
	msgs, err := b.read(ctx, b.eventStream, b.cfg.Prefix+".events.*", after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Event, len(msgs))
	for i, m := range msgs {
		out[i] = b.event(m)
	}
	return out, nil
}

func (b *Bus) event(m stored) Event {
	return Event{
		Seq:  m.seq,
		Node: m.subject[strings.LastIndexByte(m.subject, '.')+1:],
		Name: m.header.Get(headerEvent),
		Data: m.data,
		Time: m.time,
	}
}

// stored is a message read from a stream.
type stored struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
	time    time.Time
}

// read returns up to limit messages of a stream after seq, through an
// ordered consumer: JetStream delivers in sequence order and the client
// resets it if a sequence is skipped, so nothing is missed or repeated. It
// reads until the stream's last sequence as of the call (asked of the
// leader), so a lagging replica makes it wait, not stop short.
//
// A read that meets a passing condition (no JetStream server answered yet,
// a leader election) starts over until ctx ends; each attempt reads from
// scratch, so retrying cannot duplicate anything.
func (b *Bus) read(ctx context.Context, streamName, filter string, after uint64, limit int) ([]stored, error) {
	for {
		out, err := b.readOnce(ctx, streamName, filter, after, limit)
		if err == nil || !transient(err) {
			return out, err
		}
		b.log.Debug("read retry", "stream", streamName, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// transient says err may pass by itself: no responder, a lost request, a
// stream between leaders.
func transient(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrStreamNotFound) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, nats.ErrConnectionReconnecting)
}

func (b *Bus) readOnce(ctx context.Context, streamName, filter string, after uint64, limit int) ([]stored, error) {
	if limit <= 0 {
		return nil, nil
	}
	stream, err := b.js.Stream(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("bus: stream %s: %w", streamName, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("bus: stream %s info: %w", streamName, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 || after >= last {
		return nil, nil
	}
	start := max(after+1, info.State.FirstSeq)
	end := min(last, start+uint64(limit)-1)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{filter},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: read %s: %w", streamName, err)
	}
	// The consumer would expire by itself after InactiveThreshold; a
	// client reconnecting often should not leave a trail of them.
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_ = stream.DeleteConsumer(dctx, info.Name)
		}
	}()
	out := make([]stored, 0, end-start+1)
	for len(out) < limit {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := cons.Fetch(min(limit-len(out), 1000), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("bus: read %s: %w", streamName, err)
		}
		done := false
		for msg := range batch.Messages() {
			md, err := msg.Metadata()
			if err != nil {
				return nil, fmt.Errorf("bus: read %s: %w", streamName, err)
			}
			out = append(out, stored{
				seq: md.Sequence.Stream, subject: msg.Subject(), header: msg.Headers(),
				data: msg.Data(), time: md.Timestamp,
			})
			if md.Sequence.Stream >= end {
				done = true
				break
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("bus: read %s: %w", streamName, err)
		}
		if done {
			break
		}
	}
	return out, nil
}

// Subscription is a live, ordered feed of events. Close it when done.
type Subscription struct {
	c      chan Event
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// C delivers the events in sequence order; it is closed when the
// subscription ends (Close, or the context passed to Subscribe).
func (s *Subscription) C() <-chan Event { return s.c }

// Close ends the subscription and waits for its goroutines; idempotent.
func (s *Subscription) Close() {
	s.cancel()
	s.wg.Wait()
}

// Subscribe feeds events with a sequence above after, first the stored ones
// and then live ones as they are published, in sequence order with no gap.
// A slow reader holds the feed back (the consumer pulls only what it has
// room for); it does not grow a queue.
func (b *Bus) Subscribe(ctx context.Context, after uint64) (*Subscription, error) {
	stream, err := b.js.Stream(ctx, b.eventStream)
	if err != nil {
		return nil, fmt.Errorf("bus: stream %s: %w", b.eventStream, err)
	}
	it, err := b.eventsAfter(ctx, stream, after)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Subscription{c: make(chan Event, 64), cancel: cancel}
	f := &feed{it: it}
	f.got.Store(after)
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		f.stop()
	}()
	go func() {
		defer s.wg.Done()
		b.watchStall(ctx, stream, f)
	}()
	go func() {
		defer s.wg.Done()
		defer close(s.c)
		defer cancel()
		for {
			f.waiting.Store(true)
			msg, err := f.current().Next()
			f.waiting.Store(false)
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				if ctx.Err() != nil || !f.restart.Swap(false) {
					return
				}
				if !b.reopen(ctx, stream, f) {
					return
				}
				continue
			}
			if err != nil {
				// The ordered consumer resets itself (a server
				// restarted, a gap); wait a little and go on.
				b.log.Debug("event subscription", "err", err)
				select {
				case <-time.After(100 * time.Millisecond):
					continue
				case <-ctx.Done():
					return
				}
			}
			md, err := msg.Metadata()
			if err != nil {
				continue
			}
			f.got.Store(md.Sequence.Stream)
			ev := b.event(stored{seq: md.Sequence.Stream, subject: msg.Subject(), header: msg.Headers(), data: msg.Data(), time: md.Timestamp})
			select {
			case s.c <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s, nil
}

// feed is a subscription's current consumer and what it received.
type feed struct {
	mu sync.Mutex
	it jetstream.MessagesContext
	// got is the last sequence received; waiting says the reader waits
	// for the consumer (not for its own reader); restart asks the
	// reader to open a new consumer after got when the current stops.
	got     atomic.Uint64
	waiting atomic.Bool
	restart atomic.Bool
}

func (f *feed) current() jetstream.MessagesContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.it
}

func (f *feed) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.it.Stop()
}

// eventsAfter opens an ordered consumer of the events after a sequence.
func (b *Bus) eventsAfter(ctx context.Context, stream jetstream.Stream, after uint64) (jetstream.MessagesContext, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{b.cfg.Prefix + ".events.*"}}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cons, err := stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe: %w", err)
	}
	// Short pulls and heartbeats, as in Receive: a subscription whose
	// consumer's server went away resets itself within seconds.
	it, err := cons.Messages(jetstream.PullMaxMessages(256),
		jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe: %w", err)
	}
	return it, nil
}

// reopen replaces a stalled feed's consumer with a new one after what it
// received, retrying until ctx ends (false).
func (b *Bus) reopen(ctx context.Context, stream jetstream.Stream, f *feed) bool {
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		it, err := b.eventsAfter(octx, stream, f.got.Load())
		cancel()
		if err == nil {
			f.mu.Lock()
			f.it = it
			f.mu.Unlock()
			if ctx.Err() != nil {
				f.stop()
				return false
			}
			return true
		}
		b.log.Warn("event subscription: cannot open a new consumer; retrying", "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stallCheck is how often a subscription compares what it received with
// the stream's last sequence.
const stallCheck = 2 * time.Second

// watchStall replaces a feed's consumer when, between two checks, the
// reader waited for it and received nothing while the stream had events
// it has not had at the first: the ordered consumer did not come back
// after the server holding it died. Seen in TestClusterFailoverSIGKILL
// (2 runs in about 20): a survivor's mirror delivered nothing for over
// 50 s after the kill, with no error from the iterator.
func (b *Bus) watchStall(ctx context.Context, stream jetstream.Stream, f *feed) {
	t := time.NewTicker(stallCheck)
	defer t.Stop()
	var behind uint64    // the stream's last sequence at the previous check, when ahead
	prev := f.got.Load() // what was received at the previous check
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ictx, cancel := context.WithTimeout(ctx, stallCheck)
		info, err := stream.Info(ictx)
		cancel()
		if err != nil {
			behind = 0 // no leader for a moment: nothing to compare
			continue
		}
		now := f.got.Load()
		if behind > 0 && now == prev && now < behind && f.waiting.Load() {
			b.log.Warn("event subscription stalled; opening a new consumer", "received", now, "stream_last", behind)
			f.restart.Store(true)
			f.stop()
			behind = 0
			continue
		}
		behind, prev = 0, now
		if last := info.State.LastSeq; last > now {
			behind = last
		}
	}
}
