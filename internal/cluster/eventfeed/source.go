package eventfeed

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// Source is the cluster's event stream seen as an events.Source: the log a
// mirror hub replays from. It is safe for concurrent use.
type Source struct {
	bus     *bus.Bus
	timeout time.Duration
	log     *slog.Logger
}

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

// EventsAfter calls fn for the stream's events above after, in order, each
// encoded by events.Frame with its node, until fn returns false or the
// stream's last event (as of each page's read) was passed. dropped is the
// highest sequence trimmed from the stream.
func (s *Source) EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (dropped uint64, err error) {
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
