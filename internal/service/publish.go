package service

import (
	"errors"

	"github.com/lodestone-bt/lodestone/internal/events"
)

// locked is Service.mu held, with the events of the changes made under
// it. Events are numbered in the order of the changes, while the lock is
// held, and are waited for (logged, sent) after it is released, so no
// request waits on an fsync under the lock and events posted together
// share the event log's fsyncs.
type locked struct {
	s   *Service
	out []pending
}

// pending is an event to publish.
type pending struct {
	name string
	data any
}

// lock takes Service.mu.
func (s *Service) lock() *locked {
	s.mu.Lock()
	return &locked{s: s}
}

// emit queues an event, to be numbered before the lock is released.
func (x *locked) emit(name string, data any) {
	x.out = append(x.out, pending{name, data})
}

// unlock numbers the queued events, releases Service.mu, then waits
// until the events are durable and sent.
func (x *locked) unlock() {
	wait := x.post()
	x.s.mu.Unlock()
	wait()
}

// post numbers the queued events and returns a function that waits for
// them; Service.mu must be held.
func (x *locked) post() (wait func()) {
	if len(x.out) == 0 {
		return func() {}
	}
	out := x.out
	x.out = nil
	posted := make([]*events.Pending, len(out))
	for i, p := range out {
		pe, err := x.s.hub.Post(p.name, p.data)
		if err != nil {
			x.s.logPublishError(p.name, err)
			continue
		}
		posted[i] = pe
	}
	return func() {
		for i, pe := range posted {
			if pe == nil {
				continue
			}
			if _, err := pe.Wait(); err != nil {
				x.s.logPublishError(out[i].name, err)
			}
		}
	}
}

func (s *Service) logPublishError(name string, err error) {
	if !errors.Is(err, events.ErrClosed) {
		s.log.Error("publish event", "event", name, "err", err)
	}
}
