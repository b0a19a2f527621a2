// Package events is the daemon's event hub: it numbers events with an
// increasing, durable sequence, encodes each once, keeps a durable log of
// recent ones for replay, and fans them out to subscribers through bounded
// queues.
//
// An event is delivered only once it is durable, and subscribers receive
// events in sequence order. Publishing from many goroutines at once
// shares the cost of making events durable: a writer goroutine logs every
// event waiting at that moment in one store transaction (one fsync),
// then delivers them (commit.go).
//
// Publishing never blocks on a subscriber. A subscriber whose queue is full
// has fallen behind: it is cut off with ErrLagging and its consumer is
// expected to close the connection it serves, so one stuck client can never
// stall the engine or the other clients.
//
// A subscriber that reconnects names the last sequence number it saw; it
// receives the logged events after it, then live events, with no gap and no
// duplicate: Replay, under the lock that delivery takes, drops the logged
// events already queued, and from then until it has caught up, the replay
// reads every logged event delivered to that subscriber from the log, a
// page at a time, instead of its queue.
//
// A mirror hub (NewMirror, mirror.go) serves the same subscribers with
// events numbered and stored elsewhere, the cluster's event stream: it
// delivers what Inject hands it and replays from its Source.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/lodestone-bt/lodestone/api"
)

// ErrLagging ends a subscription whose queue overflowed.
var ErrLagging = errors.New("event queue overflow: client is not reading fast enough")

// ErrClosed ends the subscriptions of a closed hub.
var ErrClosed = errors.New("event hub closed")

// Log is the durable side of the hub: sequence numbers and the replay log.
// store.Store implements it. Its methods may be called concurrently.
type Log interface {
	// ReserveSeq durably reserves n sequence numbers and returns the first.
	ReserveSeq(n uint64) (first uint64, err error)
	// AppendEvents durably logs the encoded events frames, numbered seqs
	// (increasing), in one transaction: all of them or, on error, none.
	AppendEvents(seqs []uint64, frames [][]byte) error
	// EventsAfter calls fn for logged events above after, in order, and
	// returns the highest sequence number dropped from the log.
	EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (dropped uint64, err error)
}

// seqBlock is how many sequence numbers are reserved per store write.
const seqBlock = 1024

// DefaultQueueLen is the per-subscriber queue length used when Options
// leaves it zero.
const DefaultQueueLen = 1024

// Options configure a Hub.
type Options struct {
	// QueueLen is the number of events a subscriber may have waiting before
	// it is cut off. Zero means DefaultQueueLen.
	QueueLen int
	// Ephemeral names events that are not logged for replay (high-rate
	// snapshots such as task.progress, superseded by the next one).
	Ephemeral []string
}

// Hub numbers, logs and fans out events. Its methods are safe for
// concurrent use.
type Hub struct {
	log       Log
	queueLen  int
	ephemeral map[string]bool
	// mirror says the events are numbered and stored elsewhere (NewMirror).
	mirror bool

	// mu guards the fields below it. Numbering and delivery happen under
	// it, so sequence order and delivery order agree; logging does not.
	mu      sync.Mutex
	next    uint64 // next sequence number to hand out
	limit   uint64 // first number not reserved
	subs    map[*Subscription]struct{}
	closed  bool
	dropped uint64 // subscribers cut off for lagging
	// superseded counts snapshots replaced by a newer one before
	// delivery, in the hub or in a subscriber's queue
	superseded atomic.Uint64
	// out holds the events numbered but not yet delivered (or failed), in
	// sequence order; its head is a logged event not yet durable.
	out []*outgoing
	// unlogged holds the logged events of out not yet taken by the
	// writer, in sequence order.
	unlogged []*outgoing
	// snaps holds the coalesced snapshots of out, by key.
	snaps   map[string]*outgoing
	writing bool           // the writer goroutine runs
	writer  sync.WaitGroup // the writer goroutine, for Close
	// ahead is the first number of a block reserved ahead (0: none), and
	// reserving says that reserveAhead runs (bg, for Close); reserved is
	// closed when it ends.
	ahead     uint64
	reserving bool
	reserved  chan struct{}
	bg        sync.WaitGroup
}

// New returns a hub on log. The caller must Close it.
func New(log Log, opts Options) *Hub {
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	eph := make(map[string]bool)
	for _, n := range opts.Ephemeral {
		eph[n] = true
	}
	return &Hub{
		log: log, queueLen: opts.QueueLen, ephemeral: eph,
		subs: make(map[*Subscription]struct{}), snaps: make(map[string]*outgoing),
	}
}

// Publish assigns the next sequence number to an event named name with
// payload data, logs it durably unless it is ephemeral, and queues it to
// every subscriber that wants it, after every event numbered before it. It
// returns once the event is queued to the subscribers, with the event, or
// with an error when nothing was sent: data cannot be encoded, or the log
// cannot be written (an event that is not durable is not announced; its
// number is not used again).
//
// Concurrent calls share store transactions, so many publishers at once
// cost little more than one. A mirror hub (NewMirror) refuses it with
// ErrMirror.
func (h *Hub) Publish(name string, data any) (api.Event, error) {
	p, err := h.Post(name, data)
	if err != nil {
		return api.Event{}, err
	}
	return p.Wait()
}

// Post is Publish without the wait: it numbers the event and starts
// logging it, and returns at once. Events are delivered in the order of
// their Post calls, so a caller that must keep events in the order of the
// changes they report can Post under its own lock and Wait after releasing
// it. The event is sent only once durable; Wait says whether it was.
func (h *Hub) Post(name string, data any) (*Pending, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if h.mirror {
		return nil, ErrMirror
	}
	if err := h.reserveLocked(); err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	ev := api.Event{ID: strconv.FormatUint(h.next, 10), Name: name, Data: raw}
	frame, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", name, err)
	}
	o := &outgoing{seq: h.next, name: name, frame: frame, logged: !h.ephemeral[name], done: make(chan struct{})}
	h.next++
	h.enqueueLocked(o)
	return &Pending{o: o, ev: ev}, nil
}

// Pending is an event numbered by Post.
type Pending struct {
	o  *outgoing
	ev api.Event
}

// Done is closed when the event has been queued to the subscribers, or
// could not be logged.
func (p *Pending) Done() <-chan struct{} { return p.o.done }

// Wait waits for Done and returns the event, or the error that kept it
// from being logged (and sent).
func (p *Pending) Wait() (api.Event, error) {
	<-p.o.done
	if p.o.err != nil {
		return api.Event{}, fmt.Errorf("publish %s: %w", p.ev.Name, p.o.err)
	}
	return p.ev, nil
}

// PublishCoalesced publishes an ephemeral snapshot event (such as
// task.progress) keyed by key. A subscriber holds at most one undelivered
// snapshot per key: a newer one replaces it, so a slow client never
// receives stale snapshots and never lags because of them. Snapshots are
// not logged and may be delivered after events numbered later, never
// before a logged event numbered earlier. It does not wait for logged
// events still being written. On a mirror hub it is InjectSnapshot without
// a node.
func (h *Hub) PublishCoalesced(name, key string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.mirror {
		return h.snapshotLocked(name, key, "", raw)
	}
	if err := h.reserveLocked(); err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	frame, err := json.Marshal(api.Event{ID: strconv.FormatUint(h.next, 10), Name: name, Data: raw})
	if err != nil {
		return fmt.Errorf("encode event %s: %w", name, err)
	}
	o := &outgoing{seq: h.next, name: name, frame: frame, key: key, coalesced: true}
	h.next++
	if prev := h.snaps[key]; prev != nil {
		prev.frame = nil // superseded before delivery
		h.superseded.Add(1)
	}
	h.enqueueLocked(o)
	return nil
}

// reserveLocked makes sure h.next is a reserved sequence number, reserving
// the next block durably when the current one is used up. h.mu must be
// held.
//
// Once half of the current block is used, the next one is reserved in the
// background (reserveAhead), so a publisher, who may hold a lock of its
// own that requests wait on, does not wait for that store write; only a
// burst that uses up a block before its successor is stored waits.
func (h *Hub) reserveLocked() error {
	if h.next < h.limit {
		if h.limit-h.next <= seqBlock/2 && !h.reserving && h.ahead == 0 && !h.closed {
			h.reserving, h.reserved = true, make(chan struct{})
			h.bg.Add(1)
			go h.reserveAhead()
		}
		return nil
	}
	for h.reserving {
		// The block ahead is being stored: wait for it rather than
		// reserve (and fsync) another, which would leave a gap.
		done := h.reserved
		h.mu.Unlock()
		<-done
		h.mu.Lock()
		if h.closed {
			return ErrClosed
		}
		if h.next < h.limit {
			return nil // another publisher switched to it
		}
	}
	if h.ahead >= h.limit && h.ahead != 0 {
		h.next, h.limit, h.ahead = h.ahead, h.ahead+seqBlock, 0
		return nil
	}
	first, err := h.log.ReserveSeq(seqBlock)
	if err != nil {
		return err
	}
	h.next, h.limit = first, first+seqBlock
	return nil
}

// reserveAhead reserves the block after the current one, for
// reserveLocked to switch to.
func (h *Hub) reserveAhead() {
	defer h.bg.Done()
	first, err := h.log.ReserveSeq(seqBlock)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reserving = false
	close(h.reserved)
	// A block reserved meanwhile by reserveLocked itself may lie beyond
	// this one: numbers only go up.
	if err == nil && first >= h.limit {
		h.ahead = first
	}
}

// Filter selects events by name. A nil Filter passes every event.
type Filter func(name string) bool

// Names returns a Filter passing exactly the given names.
func Names(names ...string) Filter {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(name string) bool { return set[name] }
}

// Subscribe registers a subscriber for events passing filter, delivered
// after this call: every event published after it, and those whose
// Publish has not returned yet. Replay adds missed logged events to it.
// The caller must Close it.
func (h *Hub) Subscribe(filter Filter) *Subscription {
	s := &Subscription{hub: h, filter: filter, c: make(chan []byte, h.queueLen), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.err = ErrClosed
		close(s.done)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// ErrGap reports that a replay could not start where asked: events after
// the requested sequence number were already dropped from the log. The
// subscription still delivers every logged event that remains.
var ErrGap = errors.New("events after the requested id are no longer in the log")

// Replay gives s the logged events above after, to be delivered before any
// live event not yet delivered; live events already queued are discarded
// when the log holds them too, so there is no duplicate. Only the consumer
// of s may call it (so that no frame is in flight). It returns how many
// events will be replayed, and ErrGap (with the rest replayed) when the
// log no longer reaches back to after. Ephemeral events are never replayed.
//
// The replayed events are streamed from the log, a page at a time, as the
// consumer calls Next: a replay holds at most replayPage frames in memory,
// however long the log, and takes the hub's lock only briefly, so
// publishers never wait for it. Until it has caught up, the logged events
// delivered to s are left in the log rather than queued, and the replay
// reads on to them: a client replaying slowly is not cut off for lagging
// by the events published meanwhile. It is cut off (ErrLagging) only when
// the log drops events it has not read yet.
func (h *Hub) Replay(s *Subscription, after uint64) (int, error) {
	h.mu.Lock()
	if _, ok := h.subs[s]; !ok {
		h.mu.Unlock()
		return 0, ErrClosed
	}
	// Keep queued ephemeral events; logged ones come back from the log.
	var keep [][]byte
	for len(s.c) > 0 {
		if f := <-s.c; h.ephemeral[frameName(f)] {
			keep = append(keep, f)
		}
	}
	for _, f := range keep {
		s.c <- f
	}
	upto := h.deliveredLocked()
	s.replaying, s.replayUpto = true, upto
	s.replayOn.Store(true)
	filter := s.filter
	h.mu.Unlock()

	s.bmu.Lock()
	s.backlog = nil
	s.bmu.Unlock()
	s.cursor = after
	n := 0
	dropped, err := h.log.EventsAfter(after, func(seq uint64, frame []byte) bool {
		if seq > upto {
			return false
		}
		if wants(filter, frameName(frame)) {
			n++
		}
		return true
	})
	if err != nil {
		h.endReplay(s, err)
		return 0, err
	}
	if dropped > after {
		// Replay what remains.
		s.cursor = dropped
		return n, ErrGap
	}
	return n, nil
}

// replayPage is the most replayed frames a subscription holds at once.
const replayPage = 64

// fill loads the next page of a replay into s.backlog, or ends the replay
// once it has caught up with the events delivered: from then on, s
// receives live events. Only the consumer of s calls it, with s.bmu not
// held.
func (h *Hub) fill(s *Subscription) {
	for {
		h.mu.Lock()
		if !s.replaying {
			h.mu.Unlock()
			return
		}
		upto, filter := s.replayUpto, s.filter
		if s.cursor >= upto {
			h.stopReplayLocked(s)
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()

		var page [][]byte
		last, full := s.cursor, false
		dropped, err := h.log.EventsAfter(s.cursor, func(seq uint64, frame []byte) bool {
			if seq > upto {
				return false
			}
			last = seq
			if wants(filter, frameName(frame)) {
				page = append(page, frame)
			}
			full = len(page) == replayPage
			return !full
		})
		if err != nil {
			h.endReplay(s, fmt.Errorf("replay: %w", err))
			return
		}
		if dropped > s.cursor {
			// Events s has not received left the log: it cannot be served
			// in full, like a subscriber whose queue overflowed.
			h.endReplay(s, ErrLagging)
			return
		}
		if !full {
			// Everything up to upto that is logged has been read.
			if upto == ^uint64(0) {
				// Nothing numbered by this hub when the replay began: the
				// log was all delivered, and it has all been read unless
				// an event was delivered meanwhile (replayUpto then names
				// it, and the next round reads on to it).
				h.mu.Lock()
				if s.replayUpto == upto {
					h.stopReplayLocked(s)
				}
				h.mu.Unlock()
			} else {
				last = upto
			}
		}
		s.cursor = last
		if len(page) > 0 {
			s.bmu.Lock()
			s.backlog = page
			s.bmu.Unlock()
			return
		}
	}
}

// stopReplayLocked switches s from its replay to live events. h.mu must
// be held.
func (h *Hub) stopReplayLocked(s *Subscription) {
	s.replaying = false
	s.replayOn.Store(false)
}

// endReplay ends s, whose replay cannot go on, with err.
func (h *Hub) endReplay(s *Subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopReplayLocked(s)
	if errors.Is(err, ErrLagging) {
		if _, ok := h.subs[s]; ok {
			h.dropped++
		}
	}
	h.endLocked(s, err)
}

// frameName returns the name of the encoded event frame. Frames are
// api.Event encoded by this package, so the name follows the id; anything
// else is decoded in full.
func frameName(f []byte) string {
	if rest, ok := bytes.CutPrefix(f, []byte(`{"id":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 {
			if rest, ok := bytes.CutPrefix(rest[i+1:], []byte(`,"name":"`)); ok {
				if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
					return string(rest[:j])
				}
			}
		}
	}
	var ev struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(f, &ev)
	return ev.Name
}

// SetFilter changes which events s receives from now on.
func (h *Hub) SetFilter(s *Subscription, filter Filter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s.filter = filter
}

// Wanted reports whether any subscriber receives events named name now,
// so that a publisher may skip building a snapshot nobody would get.
func (h *Hub) Wanted(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.wants(name) {
			return true
		}
	}
	return false
}

// LastID returns a sequence number at least that of the last event
// delivered (and so of any Publish that returned), in this process or
// before, and below that of any event still to come: replaying after it
// yields only future events.
func (h *Hub) LastID() (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.reserveLocked(); err != nil {
		return 0, err
	}
	return h.deliveredLocked(), nil
}

// Superseded returns how many coalesced snapshots were replaced by a
// newer one of the same key before a subscriber received them.
func (h *Hub) Superseded() uint64 { return h.superseded.Load() }

// Dropped returns how many subscribers were cut off for lagging.
func (h *Hub) Dropped() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// Close ends every subscription with ErrClosed. Later publishes fail.
// Events already posted are still logged: Close returns once the writer
// is done with them, so the log may be closed next. It is safe to call
// more than once.
func (h *Hub) Close() error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for s := range h.subs {
			h.endLocked(s, ErrClosed)
		}
	}
	h.mu.Unlock()
	h.writer.Wait()
	h.bg.Wait()
	return nil
}

// endLocked removes s and records why. h.mu must be held.
func (h *Hub) endLocked(s *Subscription, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.done)
}

// Subscription is one subscriber's queue of encoded event frames.
type Subscription struct {
	hub    *Hub
	filter Filter // guarded by hub.mu
	c      chan []byte
	done   chan struct{}
	err    error // set before done is closed

	kick chan struct{} // signalled when latest gains an entry

	// A replay under way (Replay): while replaying, the logged events
	// delivered to s stay in the log, and replayUpto rises to the last of
	// them (both guarded by hub.mu; replayOn mirrors replaying for Next).
	// cursor, the last sequence number read from the log, is the
	// consumer's alone.
	replaying  bool
	replayUpto uint64
	replayOn   atomic.Bool
	cursor     uint64

	bmu     sync.Mutex
	backlog [][]byte          // a page of replayed frames, delivered before c
	latest  map[string][]byte // coalesced snapshots by key
	order   []string          // keys of latest, oldest first
}

func (s *Subscription) putLatest(key string, frame []byte) {
	s.bmu.Lock()
	if s.latest == nil {
		s.latest = make(map[string][]byte)
	}
	if _, ok := s.latest[key]; ok {
		s.hub.superseded.Add(1)
	} else {
		s.order = append(s.order, key)
	}
	s.latest[key] = frame
	s.bmu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Kick is signalled when a coalesced snapshot is waiting; call Next.
func (s *Subscription) Kick() <-chan struct{} { return s.kick }

func (s *Subscription) wants(name string) bool { return wants(s.filter, name) }

func wants(f Filter, name string) bool { return f == nil || f(name) }

// Next returns the next frame to deliver, if one is ready: replayed
// frames first, then the live queue, then coalesced snapshots. Taking the
// live queue before snapshots means that when a snapshot numbered N is
// delivered, every logged event below N already was: a client may resume
// from the highest id it has seen. ok is false when nothing is ready; then
// wait on C, Kick or Done. Only one goroutine may consume a subscription.
func (s *Subscription) Next() (frame []byte, ok bool) {
	if s.replayOn.Load() {
		if frame, ok := s.popBacklog(); ok {
			return frame, true
		}
		s.hub.fill(s)
		if frame, ok := s.popBacklog(); ok {
			return frame, true
		}
		if s.replayOn.Load() {
			return nil, false // the replay failed and s has ended
		}
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	select {
	case frame = <-s.c:
		return frame, true
	default:
	}
	if len(s.order) > 0 {
		key := s.order[0]
		s.order = s.order[1:]
		frame = s.latest[key]
		delete(s.latest, key)
		return frame, true
	}
	return nil, false
}

func (s *Subscription) popBacklog() ([]byte, bool) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	if len(s.backlog) == 0 {
		return nil, false
	}
	frame := s.backlog[0]
	s.backlog[0] = nil
	s.backlog = s.backlog[1:]
	return frame, true
}

// C delivers live encoded api.Event frames in sequence order, after the
// replayed ones (drain Next first). It is never closed; select on Done as
// well.
func (s *Subscription) C() <-chan []byte { return s.c }

// Done is closed when the subscription ends: by Close, by the hub closing,
// or by the subscriber lagging. Err then says which.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended: nil after Close, ErrLagging or
// ErrClosed. It must be called only after Done is closed.
func (s *Subscription) Err() error { return s.err }

// Close unregisters the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s, nil)
}
