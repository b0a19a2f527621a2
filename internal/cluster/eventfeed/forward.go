package eventfeed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// CursorKey is the store setting holding the local number of the last
// event the stream acknowledged.
const CursorKey = "cluster_event_cursor"

// DefaultPrefix is the subject prefix of the ephemeral events, the bus's.
const DefaultPrefix = "lodestone"

// headerEvent carries an ephemeral event's name, as the bus's header does
// for stored ones.
const headerEvent = "Lodestone-Event"

// CursorStore keeps the forwarder's cursor; *store.Store implements it.
type CursorStore interface {
	// Setting returns the JSON stored under key, or nil.
	Setting(key string) ([]byte, error)
	// PutSetting durably stores the JSON value under key.
	PutSetting(key string, value []byte) error
}

// ForwardConfig configures Forward. Every field but Keep, Prefix and Logger
// is required.
type ForwardConfig struct {
	// Node is this node's id, a subject token.
	Node string
	// Hub is the node's local event hub (events.New over its store).
	Hub *events.Hub
	// Cursor persists the forwarder's position, under CursorKey.
	Cursor CursorStore
	// Bus publishes into the cluster's event stream.
	Bus *bus.Bus
	// Conn carries the ephemeral events on core NATS.
	Conn *nats.Conn
	// Prefix is the first subject token of the ephemeral events' subject
	// "<prefix>.live.<node>"; "" means DefaultPrefix. It must be the bus's.
	Prefix string
	// Keep says whether a logged event is forwarded (false for events of
	// tasks this node no longer owns) and, for task.finished, the task's
	// generation, which makes its message id. nil keeps every event, with
	// generation 0. It is called from the forwarder's goroutine only.
	Keep func(name string, data json.RawMessage) (keep bool, generation uint64)
	// PublishTimeout bounds one publish attempt; 0 means 10 s.
	PublishTimeout time.Duration
	// Logger receives the forwarder's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Cursor writes are batched: at most one every saveEvery, or one per
// saveBatch events.
const (
	saveEvery = 100 * time.Millisecond
	saveBatch = 100
)

// Publish retries back off from retryMin to retryMax; each attempt may
// take ForwardConfig.PublishTimeout, publishTimeout by default.
const (
	retryMin       = 100 * time.Millisecond
	retryMax       = 5 * time.Second
	publishTimeout = 10 * time.Second
)

// Forwarder copies a node's local events into the cluster (see the package
// comment). Its Run goroutine owns its state.
type Forwarder struct {
	cfg       ForwardConfig
	log       *slog.Logger
	ephemeral map[string]bool
	live      string // the ephemeral events' subject

	cursor  uint64 // last local event the stream acknowledged (or skipped)
	saved   uint64 // cursor as last written
	lastPut time.Time
	timer   *time.Timer // pending cursor write, nil when none
}

// NewForwarder checks cfg and reads the cursor. With no cursor stored yet
// it stores one at the hub's last event: the events of the node's time
// before the cluster are not sent, and those published after this call
// are. So make it before the node's service publishes, and Run it.
func NewForwarder(cfg ForwardConfig) (*Forwarder, error) {
	if cfg.Node == "" || cfg.Hub == nil || cfg.Cursor == nil || cfg.Bus == nil || cfg.Conn == nil {
		return nil, errors.New("eventfeed: forward needs a node, a hub, a cursor store, a bus and a connection")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = publishTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	f := &Forwarder{
		cfg: cfg, log: log.With("component", "eventfeed", "node", cfg.Node),
		ephemeral: make(map[string]bool), live: cfg.Prefix + ".live." + cfg.Node,
	}
	for _, n := range api.EphemeralEvents {
		f.ephemeral[n] = true
	}
	if err := f.loadCursor(); err != nil {
		return nil, err
	}
	return f, nil
}

// Forward is NewForwarder and Run.
func Forward(ctx context.Context, cfg ForwardConfig) error {
	f, err := NewForwarder(cfg)
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

// Run forwards until ctx ends (it then writes the cursor and returns nil)
// or the hub is closed (events.ErrClosed). Call it once.
func (f *Forwarder) Run(ctx context.Context) error {
	defer f.stopTimer()
	for {
		err := f.run(ctx)
		if ctx.Err() != nil {
			f.save()
			return nil
		}
		if errors.Is(err, events.ErrClosed) {
			f.save()
			return fmt.Errorf("eventfeed: forward: %w", err)
		}
		// Lagging, or the log could not be read: start again from the
		// cursor.
		f.log.Debug("forward resubscribes", "cursor", f.cursor, "err", err)
		if errors.Is(err, events.ErrLagging) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(retryMin):
		}
	}
}

// loadCursor reads the stored cursor, or starts one at the hub's last
// event and stores it.
func (f *Forwarder) loadCursor() error {
	b, err := f.cfg.Cursor.Setting(CursorKey)
	if err != nil {
		return fmt.Errorf("eventfeed: read cursor: %w", err)
	}
	if b != nil {
		if err := json.Unmarshal(b, &f.cursor); err != nil {
			return fmt.Errorf("eventfeed: cursor %q: %w", b, err)
		}
		f.saved = f.cursor
		return nil
	}
	if f.cursor, err = f.cfg.Hub.LastID(); err != nil {
		return fmt.Errorf("eventfeed: start cursor: %w", err)
	}
	if err := f.cfg.Cursor.PutSetting(CursorKey, strconv.AppendUint(nil, f.cursor, 10)); err != nil {
		return fmt.Errorf("eventfeed: write cursor: %w", err)
	}
	f.saved = f.cursor
	return nil
}

// run forwards through one subscription, from the cursor, until it ends:
// ctx, the hub closed, or the subscriber lagging.
func (f *Forwarder) run(ctx context.Context) error {
	sub := f.cfg.Hub.Subscribe(nil)
	defer sub.Close()
	if _, err := f.cfg.Hub.Replay(sub, f.cursor); errors.Is(err, events.ErrGap) {
		f.log.Error("local events were dropped from the log before they reached the cluster", "after", f.cursor)
	} else if err != nil {
		return err
	}
	for {
		frame, ok := sub.Next()
		if !ok {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case frame = <-sub.C():
			case <-sub.Kick():
				continue
			case <-sub.Done():
				return sub.Err()
			case <-f.timerC():
				f.timer = nil
				f.save()
				continue
			}
		}
		if err := f.forward(ctx, frame); err != nil {
			return err
		}
	}
}

// forward sends one frame of the local hub on. It returns an error only
// when ctx ended before the stream acknowledged a logged event.
func (f *Forwarder) forward(ctx context.Context, frame []byte) error {
	var ev api.Event
	if err := json.Unmarshal(frame, &ev); err != nil {
		f.log.Error("local event not decodable", "err", err)
		return nil
	}
	if f.ephemeral[ev.Name] {
		// Best effort: a snapshot is superseded by the next one anyway.
		msg := &nats.Msg{Subject: f.live, Data: ev.Data, Header: nats.Header{headerEvent: []string{ev.Name}}}
		if err := f.cfg.Conn.PublishMsg(msg); err != nil {
			f.log.Debug("live event not sent", "name", ev.Name, "err", err)
		}
		return nil
	}
	seq, err := strconv.ParseUint(ev.ID, 10, 64)
	if err != nil {
		f.log.Error("local event id not a number", "id", ev.ID)
		return nil
	}
	if seq <= f.cursor {
		return nil // sent before
	}
	keep, gen := true, uint64(0)
	if f.cfg.Keep != nil {
		keep, gen = f.cfg.Keep(ev.Name, ev.Data)
	}
	if keep {
		id := "ev:" + f.cfg.Node + ":" + ev.ID
		if task := taskKey(ev.Data); ev.Name == api.EventTaskFinished && task != "" {
			id = bus.FinishedID(task, gen)
		}
		if err := f.publish(ctx, ev, id); err != nil {
			return err
		}
	}
	f.advance(seq)
	return nil
}

// publish stores ev in the stream under id, retrying until it is
// acknowledged or ctx ends.
func (f *Forwarder) publish(ctx context.Context, ev api.Event, id string) error {
	wait := retryMin
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, f.cfg.PublishTimeout)
		_, err := f.cfg.Bus.Publish(pctx, f.cfg.Node, ev.Name, ev.Data, bus.WithID(id))
		cancel()
		if err == nil {
			if attempt > 1 {
				f.log.Info("event stream reachable again", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if attempt == 1 {
			f.log.Warn("event not stored in the cluster yet; retrying", "id", ev.ID, "name", ev.Name, "err", err)
		}
		// The cursor may have moved since the last write: write it now
		// rather than sit on it through an outage.
		f.save()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// advance moves the cursor past seq and writes it when due.
func (f *Forwarder) advance(seq uint64) {
	f.cursor = seq
	if f.cursor-f.saved >= saveBatch || time.Since(f.lastPut) >= saveEvery {
		f.save()
		return
	}
	if f.timer == nil {
		f.timer = time.NewTimer(saveEvery)
	}
}

// save writes the cursor if it moved. A failed write is logged and tried
// again at the next one.
func (f *Forwarder) save() {
	f.stopTimer()
	if f.cursor == f.saved {
		return
	}
	f.lastPut = time.Now()
	if err := f.cfg.Cursor.PutSetting(CursorKey, strconv.AppendUint(nil, f.cursor, 10)); err != nil {
		f.log.Error("cursor not written", "err", err)
		return
	}
	f.saved = f.cursor
}

func (f *Forwarder) stopTimer() {
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
}

// timerC is the pending cursor write's channel, nil (never ready) when
// none is pending.
func (f *Forwarder) timerC() <-chan time.Time {
	if f.timer == nil {
		return nil
	}
	return f.timer.C
}

// taskKey returns the task_id field of an event's data, or "".
func taskKey(data json.RawMessage) string {
	var p struct {
		TaskID string `json:"task_id"`
	}
	_ = json.Unmarshal(data, &p)
	return p.TaskID
}
