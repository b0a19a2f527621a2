package eventfeed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// Source is the cluster's event stream seen as an events.Source: the log a
// mirror hub replays from. It is safe for concurrent use.
//
// It keeps the last RecentEvents frames that Mirror injected, so the usual
// replay, a client reconnecting after a short while, is served from memory
// rather than by a consumer on the stream (a round trip to the stream's
// leader, and a consumer created and deleted, per page). A replay that
// starts inside that window reads only it: it holds every event the hub
// has been handed, which is all a mirror hub asks for.
type Source struct {
	bus     *bus.Bus
	timeout time.Duration
	log     *slog.Logger

	// mu guards the window of recent frames: recent[i] is event first+i,
	// contiguous.
	mu     sync.Mutex
	first  uint64
	recent [][]byte
}

// RecentEvents is how many injected events a Source keeps in memory
// (about 3 MB at 300 bytes an event).
const RecentEvents = 10_000

var _ events.Source = (*Source)(nil)

// sourceTimeout bounds each call: the hub's interface has no context, and
// a replay must fail (the client gets an error) rather than hang while
// NATS is away.
const sourceTimeout = 10 * time.Second

// Pages read from the stream start small, as the hub often wants only the
// next 64 events, and grow while the caller keeps reading.
const (
	firstPage = 64
	maxPage   = 1024
)

// NewSource returns the event stream of b as a mirror hub's Source. log
// may be nil.
func NewSource(b *bus.Bus, log *slog.Logger) *Source {
	if log == nil {
		log = slog.Default()
	}
	return &Source{bus: b, timeout: sourceTimeout, log: log.With("component", "eventfeed")}
}

// LastSeq returns the stream's last sequence.
func (s *Source) LastSeq() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, last, err := s.bus.EventSeqs(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventfeed: last event: %w", err)
	}
	return last, nil
}

// remember keeps frame, event seq, which Mirror is about to inject. A gap
// (a resubscription past trimmed events) starts the window afresh; an
// event already kept is ignored.
func (s *Source) remember(seq uint64, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.recent); n > 0 {
		next := s.first + uint64(n)
		if seq < next {
			return
		}
		if seq > next {
			s.recent = nil
		}
	}
	if len(s.recent) == 0 {
		s.first = seq
	}
	s.recent = append(s.recent, frame)
	if n := len(s.recent); n >= 2*RecentEvents {
		// Copied to a new array, so a reader holding a part of the old
		// one is not disturbed; amortised, a copy per RecentEvents events.
		s.recent = append(make([][]byte, 0, 2*RecentEvents), s.recent[n-RecentEvents:]...)
		s.first += uint64(n - RecentEvents)
	}
}

// cached returns the kept frames above after and the number of the first,
// and ok when the window reaches back to after+1.
func (s *Source) cached(after uint64) (frames [][]byte, first uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := uint64(len(s.recent))
	if n == 0 || after+1 < s.first || after+1 > s.first+n {
		return nil, 0, false
	}
	// Appends never change the elements of this slice: it is safe to
	// read after the unlock.
	return s.recent[after+1-s.first:], after + 1, true
}

// EventsAfter calls fn for the stream's events above after, in order, each
// encoded by events.Frame with its node, until fn returns false or the
// stream's last event (as of each page's read) was passed; or, when after
// lies in the window of recent injected events, for those up to the last
// injected (then dropped is 0: nothing after `after` is missing). dropped
// is the highest sequence trimmed from the stream.
func (s *Source) EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (dropped uint64, err error) {
	if frames, first, ok := s.cached(after); ok {
		for i, f := range frames {
			if !fn(first+uint64(i), f) {
				break
			}
		}
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	first, _, err := s.bus.EventSeqs(ctx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("eventfeed: read events: %w", err)
	}
	if first > 0 {
		dropped = first - 1
	}
	page := firstPage
	for {
		// Each page has its own deadline: a long replay is many reads.
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		evs, err := s.bus.Replay(ctx, after, page)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("eventfeed: read events: %w", err)
		}
		if len(evs) == 0 {
			return dropped, nil
		}
		if evs[0].Seq > after+1 {
			// Trimmed since EventSeqs answered.
			dropped = max(dropped, evs[0].Seq-1)
		}
		for _, ev := range evs {
			frame, err := events.Frame(ev.Seq, ev.Name, ev.Node, ev.Data)
			if err != nil {
				// Not JSON: no node publishes that (Forward sends what its
				// hub encoded). Skip it, as Mirror does.
				s.log.Warn("event not JSON", "seq", ev.Seq, "node", ev.Node, "err", err)
				continue
			}
			if !fn(ev.Seq, frame) {
				return dropped, nil
			}
		}
		if len(evs) < page {
			return dropped, nil // the stream's last event as of the read
		}
		after = evs[len(evs)-1].Seq
		page = min(2*page, maxPage)
	}
}
