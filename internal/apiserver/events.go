package apiserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// defaultEvents is what a new connection receives.
var defaultEvents = events.Names(api.DefaultEvents...)

// errDeferred tells the reader that the writer will send the response.
var errDeferred = errors.New("response deferred to the writer")

// subscribe handles events.subscribe: it replaces the connection's event
// filter.
func subscribe(_ context.Context, c *conn, p api.EventsSubscribeParams) (api.EventsSubscribeResult, error) {
	for _, n := range p.Names {
		if !slices.Contains(api.EventNames, n) {
			return api.EventsSubscribeResult{}, fmt.Errorf("%w: unknown event name %q", errInvalidParams, n)
		}
	}
	names := []string{}
	for _, n := range p.Names {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	c.s.hub.SetFilter(c.sub, events.Names(names...))
	return api.EventsSubscribeResult{Names: names}, nil
}

type replayRequest struct {
	id    string
	after uint64
}

// replay handles events.replay by handing it to the writer, which answers
// and then sends the replayed events.
func replay(ctx context.Context, c *conn, p api.EventsReplayParams) (api.EventsReplayResult, error) {
	var after uint64
	if p.After != "" {
		var err error
		if after, err = strconv.ParseUint(p.After, 10, 64); err != nil {
			return api.EventsReplayResult{}, fmt.Errorf("%w: after %q is not an event id", errInvalidParams, p.After)
		}
	}
	id, _ := ctx.Value(requestIDKey{}).(string)
	select {
	case c.replay <- replayRequest{id: id, after: after}:
		return api.EventsReplayResult{}, errDeferred
	case <-ctx.Done():
		return api.EventsReplayResult{}, errShuttingDown
	}
}

// doReplay runs in the writer: it loads the backlog and returns the
// response frame, which is written before the backlog. A gap in the log is
// no error: the result says the replay is not complete.
func (c *conn) doReplay(rq replayRequest) []byte {
	n, err := c.s.hub.Replay(c.sub, rq.after)
	if err != nil && !errors.Is(err, events.ErrGap) {
		frame, _ := c.failed(rq.id, api.MethodEventsReplay, err)
		return frame
	}
	return resultResponse(rq.id, api.EventsReplayResult{Replayed: n, Complete: err == nil})
}

// requestIDKey carries the request id in a handler's context.
type requestIDKey struct{}
