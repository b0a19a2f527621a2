package events

// Mirror hubs.
//
// In cluster mode (issue 20) the events a client sees are numbered by the
// cluster's event stream, not by this node: every node forwards its own
// events into the stream, and each node feeds the stream back into a
// mirror hub, which the API server uses exactly as it uses a local hub.
// A mirror hub numbers nothing and logs nothing. Inject hands it an event
// the stream already stored under its sequence number, and Replay reads
// the stream (a Source) where a local hub reads its store.
//
// The replay logic is the local hub's, unchanged: it relies on every
// logged event delivered to a subscriber being readable from the log by
// then, and on numbers only rising. Both hold for a mirror: an event is
// injected only after the stream stored it, and the stream's sequence
// rises. Nothing waits in Hub.out on a mirror (every injected event is
// durable already), so an event is delivered in Inject itself, under
// Hub.mu, and the highest injected number is what has been delivered.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Source is the log behind a mirror hub: events numbered and stored
// elsewhere (the cluster's event stream). Its methods may be called
// concurrently, never under the hub's lock.
type Source interface {
	// EventsAfter calls fn for the stored events above after, in order,
	// until fn returns false, with each event's frame as Frame encodes it,
	// and returns the highest number dropped from the store (0 if none).
	// It must see at least every event handed to Inject before the call
	// (the hub asks for no later one).
	EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (dropped uint64, err error)
	// LastSeq returns the number of the last event stored.
	LastSeq() (uint64, error)
}

// ErrMirror is returned by Publish and Post on a mirror hub, whose events
// are numbered elsewhere: they come in through Inject.
var ErrMirror = errors.New("events: a mirror hub does not number events; inject them")

// ErrNotMirror is returned by Inject and InjectSnapshot on a hub made by New.
var ErrNotMirror = errors.New("events: not a mirror hub")

// NewMirror returns a hub whose events are numbered and stored by src: it
// delivers what Inject and InjectSnapshot hand it, and replays from src.
// It starts after src's last event, so Inject ignores events up to that
// one (a replay reads them from src) and LastID returns it until an event
// is injected. The caller must Close the hub.
func NewMirror(src Source, opts Options) (*Hub, error) {
	last, err := src.LastSeq()
	if err != nil {
		return nil, fmt.Errorf("events: mirror start: %w", err)
	}
	if last == math.MaxUint64 {
		return nil, fmt.Errorf("events: mirror start: source at its last number")
	}
	h := New(mirrorLog{src}, opts)
	h.mirror = true
	// No block is ever reserved: the limit is out of reach.
	h.next, h.limit = last+1, math.MaxUint64
	return h, nil
}

// mirrorLog is a mirror hub's Log: reading is its Source's, and the hub
// never calls the rest.
type mirrorLog struct{ src Source }

func (l mirrorLog) ReserveSeq(uint64) (uint64, error) { return 0, ErrMirror }

func (l mirrorLog) AppendEvents([]uint64, [][]byte) error { return ErrMirror }

func (l mirrorLog) EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (uint64, error) {
	return l.src.EventsAfter(after, fn)
}

// Inject delivers to the subscribers of mirror hub h the event numbered
// seq, named name, encoded as frame (see Frame), which the source has
// stored. Events must come in increasing order: one numbered at or below
// the last injected one, or at or below the source's last event when h
// was made, is ignored (a duplicate, or one that a replay reads from the
// source). A gap is allowed: replays read what the source holds.
func (h *Hub) Inject(seq uint64, name string, frame []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.mirror:
		return ErrNotMirror
	case h.closed:
		return ErrClosed
	case seq < h.next || seq == math.MaxUint64:
		return nil
	}
	h.next = seq + 1
	h.sendLocked(&outgoing{seq: seq, name: name, frame: frame, logged: true, settled: true})
	return nil
}

// InjectSnapshot delivers to the subscribers of mirror hub h an ephemeral
// snapshot event from node, coalesced by key as PublishCoalesced does.
// It carries the id of the last event injected: a client that resumes
// from it has received every event up to it (Next delivers queued events
// before snapshots), so it is a safe position, though not unique.
func (h *Hub) InjectSnapshot(name, key, node string, data json.RawMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.mirror {
		return ErrNotMirror
	}
	return h.snapshotLocked(name, key, node, data)
}

// snapshotLocked is PublishCoalesced on a mirror: h.mu must be held.
func (h *Hub) snapshotLocked(name, key, node string, data json.RawMessage) error {
	if h.closed {
		return ErrClosed
	}
	frame, err := Frame(h.next-1, name, node, data)
	if err != nil {
		return err
	}
	h.sendLocked(&outgoing{seq: h.next - 1, name: name, frame: frame, key: key, coalesced: true})
	return nil
}

// frameEnvelope is api.Event with the node that published it, for cluster
// events; api.Event's fields, in its order, so that frameName reads it.
type frameEnvelope struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Node string          `json:"node,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Frame encodes an event as a hub delivers it:
// {"id":"<seq>","name":…,"node":…,"data":…}, the node left out when
// empty (a local hub's events), so a mirror's frames have the local
// hub's shape. data must be JSON.
func Frame(seq uint64, name, node string, data json.RawMessage) ([]byte, error) {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	f, err := json.Marshal(frameEnvelope{ID: strconv.FormatUint(seq, 10), Name: name, Node: node, Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", name, err)
	}
	return f, nil
}
