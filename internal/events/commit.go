package events

// Group commit of logged events.
//
// Numbering an event and queuing it for delivery happen under Hub.mu;
// making it durable does not. Post puts the event at the end of Hub.out,
// the events numbered but not yet delivered; a logged one also goes to
// Hub.unlogged and wakes the writer goroutine, which takes every event
// waiting there and logs them in one store transaction (one fsync), then,
// under Hub.mu again, delivers the longest prefix of Hub.out that needs
// nothing more: logged events now durable, and the ephemeral events and
// snapshots numbered among them. So delivery follows sequence order, and
// every logged event below the head of Hub.out is durable. While the
// writer logs one batch, the next one gathers; a lone event waits for one
// fsync.
//
// The writer runs only while there is something to log: Post starts it,
// and it ends when Hub.unlogged is empty. Close waits for it.

// maxBatch bounds the events logged in one transaction.
const maxBatch = 1024

// outgoing is an event numbered but perhaps not yet delivered.
type outgoing struct {
	seq  uint64
	name string
	// frame is the encoded event; nil for a snapshot superseded before
	// delivery.
	frame     []byte
	logged    bool   // must be durable before delivery
	coalesced bool   // a snapshot, delivered with Subscription.putLatest
	key       string // the snapshot's key

	// Guarded by Hub.mu until done is closed, then read-only.
	settled bool  // a logged event's write finished, with err
	err     error // why a logged event could not be logged
	// done, when not nil, is closed once the event is delivered or has
	// failed.
	done chan struct{}
}

// ready reports whether o may leave Hub.out.
func (o *outgoing) ready() bool { return !o.logged || o.settled }

// enqueueLocked queues o behind the events not yet delivered, or delivers
// it at once when nothing waits and it needs no logging. h.mu must be
// held.
func (h *Hub) enqueueLocked(o *outgoing) {
	if len(h.out) == 0 && !o.logged {
		h.sendLocked(o)
		return
	}
	h.out = append(h.out, o)
	if o.coalesced {
		h.snaps[o.key] = o
	}
	if !o.logged {
		return
	}
	h.unlogged = append(h.unlogged, o)
	if !h.writing {
		h.writing = true
		h.writer.Add(1)
		go h.writeLoop()
	}
}

// writeLoop logs the waiting events in batches and delivers them, until
// none waits.
func (h *Hub) writeLoop() {
	defer h.writer.Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.unlogged) > 0 {
		n := min(len(h.unlogged), maxBatch)
		batch := h.unlogged[:n:n]
		h.unlogged = h.unlogged[n:]
		if len(h.unlogged) == 0 {
			h.unlogged = nil
		}
		seqs := make([]uint64, n)
		frames := make([][]byte, n)
		for i, o := range batch {
			seqs[i], frames[i] = o.seq, o.frame
		}
		h.mu.Unlock()
		err := h.log.AppendEvents(seqs, frames)
		h.mu.Lock()
		for _, o := range batch {
			o.settled, o.err = true, err
		}
		h.deliverLocked()
	}
	h.writing = false
}

// deliverLocked delivers the events at the head of h.out that are ready,
// in order, and drops those that could not be logged. h.mu must be held.
func (h *Hub) deliverLocked() {
	i := 0
	for ; i < len(h.out) && h.out[i].ready(); i++ {
		o := h.out[i]
		h.out[i] = nil
		if o.coalesced && h.snaps[o.key] == o {
			delete(h.snaps, o.key)
		}
		if o.err == nil {
			h.sendLocked(o)
			continue
		}
		if o.done != nil {
			close(o.done)
		}
	}
	h.out = h.out[i:]
	if len(h.out) == 0 {
		h.out = nil
	}
}

// sendLocked queues o to every subscriber that wants it and marks it
// done. h.mu must be held.
func (h *Hub) sendLocked(o *outgoing) {
	if o.frame != nil {
		for s := range h.subs {
			switch {
			case !s.wants(o.name):
			case o.coalesced:
				s.putLatest(o.key, o.frame)
			case o.logged && s.replaying:
				// The replay reads on to it in the log (Replay). An
				// unbounded replayUpto (this hub had numbered nothing when
				// the replay began) becomes this event's number: it is
				// above every event logged before.
				if s.replayUpto == ^uint64(0) || o.seq > s.replayUpto {
					s.replayUpto = o.seq
				}
			default:
				select {
				case s.c <- o.frame:
				default:
					h.dropped++
					h.endLocked(s, ErrLagging)
				}
			}
		}
	}
	if o.done != nil {
		close(o.done)
	}
}

// deliveredLocked returns the highest sequence number up to which every
// event has been delivered (or has failed): events above it are still to
// come. h.mu must be held.
func (h *Hub) deliveredLocked() uint64 {
	switch {
	case len(h.out) > 0:
		return h.out[0].seq - 1
	case h.next == 0:
		// Nothing numbered yet by this hub: the log is all delivered.
		return ^uint64(0)
	default:
		return h.next - 1
	}
}
