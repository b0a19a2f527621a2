package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Command is one request for a node. ID must be unique in the cluster (the
// duplicate window is the stream's, not a node's): it is the JetStream
// message id that deduplicates a resend, and the key a handler uses to be
// idempotent.
type Command struct {
	ID     string          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Result is a handler's answer to a command, sent back to the sender.
type Result struct {
	ID     string          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the handler's error text; empty on success. A failed
	// attempt sends no result: only the final one (success or dead
	// letter) does.
	Error string `json:"error,omitempty"`
}

// Handler carries out a command on its node. It returns the result to send
// back, or an error to have the command delivered again later. It may run
// more than once for one command (redelivery), so it must be idempotent by
// cmd.ID.
type Handler func(ctx context.Context, cmd Command) (json.RawMessage, error)

// Header names the bus sets on a command.
const (
	headerReply = "Lodestone-Reply"
	headerError = "Lodestone-Error"
	headerNode  = "Lodestone-Node"
)

var (
	// ErrNoID is returned by Send for a command without an ID.
	ErrNoID = errors.New("bus: command has no id")
	// ErrDuplicate is returned by Sent.Result when Send was a resend that
	// JetStream deduplicated: the stored copy answers the first sender.
	ErrDuplicate = errors.New("bus: duplicate command, the first send gets the result")
)

// Sent is a command that JetStream has stored. Call Result to wait for the
// node's answer, or Close if no one waits; either releases its inbox.
type Sent struct {
	// Seq is the command's sequence in the command stream.
	Seq uint64
	// Duplicate says a command with this ID was already stored within the
	// duplicate window; Seq is then the first copy's.
	Duplicate bool

	sub  *nats.Subscription
	ch   chan *nats.Msg
	once sync.Once
}

// Send stores cmd for node and returns once JetStream acknowledged it: a nil
// error means the command is durable on the stream's replicas and will
// reach the node, now or when it comes back; the caller may answer its
// client then. An error means it may not be stored; sending again with the
// same ID is safe.
func (b *Bus) Send(ctx context.Context, node string, cmd Command) (*Sent, error) {
	if err := validToken(node); err != nil {
		return nil, err
	}
	if cmd.ID == "" {
		return nil, ErrNoID
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("bus: encode command: %w", err)
	}
	// The inbox exists before the command is stored, so a fast node
	// cannot answer into nothing.
	s := &Sent{ch: make(chan *nats.Msg, 1)}
	inbox := b.nc.NewRespInbox()
	if s.sub, err = b.nc.ChanSubscribe(inbox, s.ch); err != nil {
		return nil, fmt.Errorf("bus: reply inbox: %w", err)
	}
	msg := &nats.Msg{
		Subject: b.cfg.Prefix + ".cmd." + node,
		Data:    data,
		Header:  nats.Header{headerReply: []string{inbox}},
	}
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(cmd.ID), jetstream.WithExpectStream(b.cmdStream))
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("bus: send %s to %s: %w", cmd.ID, node, err)
	}
	s.Seq, s.Duplicate = ack.Sequence, ack.Duplicate
	return s, nil
}

// Result waits for the node's answer to the command and releases the inbox.
// It returns ErrDuplicate at once for a deduplicated resend, and ctx's error
// if the answer does not come in time; the command stays stored either way.
func (s *Sent) Result(ctx context.Context) (Result, error) {
	defer s.Close()
	if s.Duplicate {
		return Result{}, ErrDuplicate
	}
	select {
	case m := <-s.ch:
		var r Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			return Result{}, fmt.Errorf("bus: decode result: %w", err)
		}
		return r, nil
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Close releases the reply inbox; it is idempotent.
func (s *Sent) Close() {
	s.once.Do(func() { _ = s.sub.Unsubscribe() })
}

// Receive runs node's durable consumer and calls h for each of its commands,
// one at a time, in stream order, until ctx ends; then it stops, waits for a
// running handler, and returns nil. Commands stored while the node was away
// are delivered first. A command is acknowledged after h returned nil; after
// an error it is delivered again after RetryDelay, and after MaxDeliver
// failures it goes to the dead-letter stream.
func (b *Bus) Receive(ctx context.Context, node string, h Handler) error {
	if err := validToken(node); err != nil {
		return err
	}
	cons, err := b.consumer(ctx, node)
	if err != nil {
		return err
	}
	log := b.log.With("node", node)

	// The mutex and flag make Stop wait for a handler that started, and
	// keep one from starting after: its message is simply redelivered.
	var (
		mu      sync.Mutex
		stopped bool
		running sync.WaitGroup
	)
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		running.Add(1)
		mu.Unlock()
		defer running.Done()
		b.handle(ctx, log, msg, h)
	},
		// A pull request lives on the consumer's leader; when that
		// server goes away the request is lost with it, and the client
		// only notices by missed heartbeats. Short pulls and heartbeats
		// bound that to a few seconds (the defaults, 30 s and 15 s,
		// left a node deaf for ~30 s after a restart in the tests); an
		// idle node costs one small request every 5 s.
		jetstream.PullExpiry(5*time.Second),
		jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.Debug("command consumer", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("bus: consume for %s: %w", node, err)
	}
	<-ctx.Done()
	mu.Lock()
	stopped = true
	mu.Unlock()
	cc.Stop()
	running.Wait()
	<-cc.Closed()
	return nil
}

// consumer creates or updates node's durable consumer, retrying passing
// conditions (a server or JetStream leader that just started) until ctx ends.
func (b *Bus) consumer(ctx context.Context, node string) (jetstream.Consumer, error) {
	for {
		cons, err := b.createConsumer(ctx, node)
		if err == nil || !transient(err) {
			return cons, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bus: consumer for %s: %w (last: %w)", node, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *Bus) createConsumer(ctx context.Context, node string) (jetstream.Consumer, error) {
	stream, err := b.js.Stream(ctx, b.cmdStream)
	if err != nil {
		return nil, fmt.Errorf("bus: command stream: %w", err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "node-" + node,
		Description:   "commands for node " + node,
		FilterSubject: b.cfg.Prefix + ".cmd." + node,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxDeliver:    b.cfg.MaxDeliver,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      b.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: consumer for %s: %w", node, err)
	}
	return cons, nil
}

// handle runs one delivery of a command: handler, then the reply, then the
// ack, so an acked command has always been answered.
func (b *Bus) handle(ctx context.Context, log *slog.Logger, msg jetstream.Msg, h Handler) {
	var cmd Command
	if err := json.Unmarshal(msg.Data(), &cmd); err != nil {
		// Undecodable: retrying cannot help.
		b.deadLetter(ctx, log, msg, cmd, fmt.Errorf("decode: %w", err))
		return
	}
	res, err := h(ctx, cmd)
	if err != nil {
		delivered := uint64(0)
		if md, mdErr := msg.Metadata(); mdErr == nil {
			delivered = md.NumDelivered
		}
		if delivered >= uint64(b.cfg.MaxDeliver) {
			b.deadLetter(ctx, log, msg, cmd, err)
			return
		}
		log.Warn("command failed, will retry", "id", cmd.ID, "method", cmd.Method, "attempt", delivered, "err", err)
		if nerr := msg.NakWithDelay(b.cfg.RetryDelay); nerr != nil {
			log.Warn("nak command", "id", cmd.ID, "err", nerr)
		}
		return
	}
	b.reply(log, msg, Result{ID: cmd.ID, Result: res})
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		// It comes again after AckWait; the handler is idempotent.
		log.Warn("ack command", "id", cmd.ID, "err", err)
	}
}

// reply answers the sender on core NATS, if it gave an inbox. Best effort:
// a sender that is gone needs no answer.
func (b *Bus) reply(log *slog.Logger, msg jetstream.Msg, r Result) {
	inbox := msg.Headers().Get(headerReply)
	if inbox == "" {
		return
	}
	data, err := json.Marshal(r)
	if err == nil {
		err = b.nc.Publish(inbox, data)
	}
	if err != nil {
		log.Debug("reply", "id", r.ID, "err", err)
	}
}

// deadLetter copies a command that cannot succeed to the dead-letter stream,
// with its error, and terminates it so it is not delivered again. If the
// copy fails the command is left to redelivery, never dropped.
func (b *Bus) deadLetter(ctx context.Context, log *slog.Logger, msg jetstream.Msg, cmd Command, cause error) {
	node := msg.Subject()[len(b.cfg.Prefix)+len(".cmd."):]
	dead := &nats.Msg{
		Subject: b.cfg.Prefix + ".dead." + node,
		Data:    msg.Data(),
		Header: nats.Header{
			headerError: []string{cause.Error()},
			headerNode:  []string{node},
		},
	}
	if md, err := msg.Metadata(); err == nil {
		dead.Header.Set("Lodestone-Seq", strconv.FormatUint(md.Sequence.Stream, 10))
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, dead, jetstream.WithExpectStream(b.deadStream)); err != nil {
		log.Error("dead-letter command", "id", cmd.ID, "err", err)
		return
	}
	log.Error("command dead-lettered", "id", cmd.ID, "method", cmd.Method, "err", cause)
	b.reply(log, msg, Result{ID: cmd.ID, Error: cause.Error()})
	if err := msg.Term(); err != nil {
		log.Warn("terminate command", "id", cmd.ID, "err", err)
	}
}

// DeadLetter is a command that failed MaxDeliver times.
type DeadLetter struct {
	Seq     uint64 // in the dead-letter stream
	Node    string
	Command Command
	Error   string
}

// DeadLetters returns the dead-letter stream's commands after seq, up to
// limit, for an operator or an alert to look at.
func (b *Bus) DeadLetters(ctx context.Context, after uint64, limit int) ([]DeadLetter, error) {
	msgs, err := b.read(ctx, b.deadStream, b.cfg.Prefix+".dead.*", after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := DeadLetter{Seq: m.seq, Node: m.header.Get(headerNode), Error: m.header.Get(headerError)}
		if err := json.Unmarshal(m.data, &d.Command); err != nil {
			d.Error += "; undecodable: " + err.Error()
		}
		out = append(out, d)
	}
	return out, nil
}
