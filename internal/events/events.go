// Package events is the daemon's event hub: it numbers events with an
// increasing, durable sequence, encodes each once, and fans it out to
// subscribers through bounded queues.
//
// Publishing never blocks on a subscriber. A subscriber whose queue is full
// has fallen behind: it is cut off with ErrLagging and its consumer is
// expected to close the connection it serves, so one stuck client can never
// stall the engine or the other clients.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/lodestone-bt/lodestone/api"
)

// ErrLagging ends a subscription whose queue overflowed.
var ErrLagging = errors.New("event queue overflow: client is not reading fast enough")

// ErrClosed ends the subscriptions of a closed hub.
var ErrClosed = errors.New("event hub closed")

// SeqSource durably reserves blocks of sequence numbers, so that event IDs
// stay unique across restarts. store.Store implements it.
type SeqSource interface {
	ReserveSeq(n uint64) (first uint64, err error)
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
}

// Hub numbers and fans out events. Its methods are safe for concurrent use.
type Hub struct {
	seqs     SeqSource
	queueLen int

	// mu guards the fields below it.
	mu      sync.Mutex
	next    uint64 // next sequence number to hand out
	limit   uint64 // first number not reserved
	subs    map[*Subscription]struct{}
	closed  bool
	dropped uint64 // subscribers cut off for lagging
}

// New returns a hub drawing sequence numbers from seqs.
func New(seqs SeqSource, opts Options) *Hub {
	if opts.QueueLen <= 0 {
		opts.QueueLen = DefaultQueueLen
	}
	return &Hub{seqs: seqs, queueLen: opts.QueueLen, subs: make(map[*Subscription]struct{})}
}

// Publish assigns the next sequence number to an event named name with
// payload data, and queues it to every subscriber. It returns the event, or
// an error when data cannot be encoded or no sequence number can be
// reserved, in which case nothing is sent.
func (h *Hub) Publish(name string, data any) (api.Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return api.Event{}, fmt.Errorf("encode event %s: %w", name, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return api.Event{}, ErrClosed
	}
	if h.next == h.limit {
		first, err := h.seqs.ReserveSeq(seqBlock)
		if err != nil {
			return api.Event{}, fmt.Errorf("publish %s: %w", name, err)
		}
		h.next, h.limit = first, first+seqBlock
	}
	ev := api.Event{ID: strconv.FormatUint(h.next, 10), Name: name, Data: raw}
	h.next++
	frame, err := json.Marshal(ev)
	if err != nil {
		return api.Event{}, fmt.Errorf("encode event %s: %w", name, err)
	}
	for s := range h.subs {
		select {
		case s.c <- frame:
		default:
			h.dropped++
			h.endLocked(s, ErrLagging)
		}
	}
	return ev, nil
}

// Subscribe registers a new subscriber that receives every event published
// after this call. The caller must Close it.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{hub: h, c: make(chan []byte, h.queueLen), done: make(chan struct{})}
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

// Dropped returns how many subscribers were cut off for lagging.
func (h *Hub) Dropped() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dropped
}

// Close ends every subscription with ErrClosed. Later publishes fail.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	for s := range h.subs {
		h.endLocked(s, ErrClosed)
	}
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
	hub  *Hub
	c    chan []byte
	done chan struct{}
	err  error // set before done is closed
}

// C delivers encoded api.Event frames in sequence order. It is never
// closed; select on Done as well.
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
