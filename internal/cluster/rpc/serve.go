package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lodestone-bt/lodestone/api"
)

// Handler answers one read: the API method and its params as the caller
// sent them. ctx ends when the caller stops waiting or Serve stops. To keep
// an API code, return an *api.Error (it may be wrapped); any other error
// reaches the caller as CodeInternal. A panic is recovered and answered as
// CodeInternal.
type Handler func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)

// maxHandlerTime caps the time a request may ask for, whatever its header
// says.
const maxHandlerTime = 5 * time.Minute

// Serve answers requests for node on the subject Subject(prefix, node) until
// ctx ends or stop is called. Each request runs h in its own goroutine, at
// most MaxInFlight at once. stop unsubscribes, cancels the handlers still
// running and returns once they have returned; it may be called more than
// once. Serve does not own nc.
//
// The subscription is known to nc's server when Serve returns; servers
// routed to it learn of it a moment later, so a call through another
// server right after Serve may still find no responder.
func Serve(ctx context.Context, nc *nats.Conn, prefix, node string, h Handler, log *slog.Logger) (stop func(), err error) {
	if err := validToken(prefix); err != nil {
		return nil, fmt.Errorf("rpc: prefix: %w", err)
	}
	if err := validToken(node); err != nil {
		return nil, fmt.Errorf("rpc: node: %w", err)
	}
	if h == nil {
		return nil, errors.New("rpc: nil handler")
	}
	if log == nil {
		log = slog.Default()
	}
	s := &server{
		nc: nc, node: node, h: h,
		log: log.With("component", "rpc", "node", node),
		sem: make(chan struct{}, MaxInFlight),
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	// A queue group: were the same node id ever to run twice, one of them
	// answers each request, and two answers never mix in one inbox.
	s.sub, err = nc.QueueSubscribe(Subject(prefix, node), "rpc", s.onMsg)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("rpc: subscribe %s: %w", Subject(prefix, node), err)
	}
	// A full client buffer would drop requests (their callers then time
	// out); requests are small, so allow many.
	if err := s.sub.SetPendingLimits(-1, 64<<20); err != nil {
		s.log.Warn("rpc pending limits", "err", err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		// The subscription is resent on reconnect; serving goes on.
		s.log.Warn("rpc subscription not confirmed by the server", "err", err)
	}
	unwatch := context.AfterFunc(ctx, s.stop)
	return func() {
		unwatch()
		s.stop()
	}, nil
}

// server is one node's Serve.
type server struct {
	nc   *nats.Conn
	node string
	h    Handler
	log  *slog.Logger
	sub  *nats.Subscription
	// sem holds a token per running request.
	sem chan struct{}
	// ctx is the handlers' parent; cancel ends it at stop.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once

	// mu guards closed and orders wg.Add before stop's wg.Wait.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// stop ends serving and waits for the running handlers.
func (s *server) stop() {
	s.once.Do(func() {
		if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
			s.log.Warn("rpc unsubscribe", "err", err)
		}
		s.cancel()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.wg.Wait()
	})
}

// onMsg is the subscription's callback: it waits for a free slot, so at
// most MaxInFlight requests run, and starts the request's goroutine.
func (s *server) onMsg(m *nats.Msg) {
	received := time.Now()
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() { <-s.sem }()
		s.handle(m, received)
	}()
}

// handle runs one request and sends its answer.
func (s *server) handle(m *nats.Msg, received time.Time) {
	if m.Reply == "" {
		return // nobody to answer
	}
	method := m.Header.Get(hdrMethod)
	timeout := DefaultTimeout
	if ms, err := strconv.ParseInt(m.Header.Get(hdrTimeout), 10, 64); err == nil && ms > 0 {
		timeout = min(time.Duration(ms)*time.Millisecond, maxHandlerTime)
	}
	ctx, cancel := context.WithDeadline(s.ctx, received.Add(timeout))
	defer cancel()
	if ctx.Err() != nil && s.ctx.Err() == nil {
		s.log.Debug("rpc request expired while waiting for a slot", "method", method)
		return
	}
	var res json.RawMessage
	var err error
	if method == "" {
		err = &api.Error{Code: api.CodeInvalidRequest, Message: "cluster read without a method"}
	} else {
		res, err = s.call(ctx, method, m.Data)
	}
	switch {
	case s.ctx.Err() != nil && err != nil:
		err = &api.Error{Code: api.CodeNodeUnavailable, Message: fmt.Sprintf("node %s stopped while answering %s", s.node, method)}
	case ctx.Err() != nil:
		// The caller has given up; an answer would go nowhere.
		s.log.Debug("rpc caller gave up", "method", method, "after", time.Since(received))
		return
	}
	s.send(m.Reply, method, res, err)
}

// call runs the handler, turning a panic into an internal error.
func (s *server) call(ctx context.Context, method string, params json.RawMessage) (res json.RawMessage, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc handler panicked", "method", method, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, &api.Error{Code: api.CodeInternal, Message: "internal error: panic in " + method}
		}
	}()
	return s.h(ctx, method, params)
}

// send publishes the answer to reply: an error in one message, a result in
// parts of at most the chunk size.
func (s *server) send(reply, method string, res json.RawMessage, err error) {
	if err == nil && len(res) > MaxResult {
		s.log.Error("rpc answer too large", "method", method, "bytes", len(res), "max", MaxResult)
		err = &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("internal error: the answer of %s on node %s has %d bytes, more than a cluster read may carry (%d)", method, s.node, len(res), MaxResult)}
	}
	if err != nil {
		msg := nats.NewMsg(reply)
		msg.Header.Set(hdrStatus, "error")
		msg.Header.Set(hdrPart, "0/1")
		msg.Data = encodeError(err)
		if err := s.nc.PublishMsg(msg); err != nil {
			s.log.Warn("rpc answer not sent", "method", method, "err", err)
		}
		return
	}
	if res == nil {
		res = json.RawMessage("null")
	}
	size := s.chunkSize()
	n := max(1, (len(res)+size-1)/size)
	for i := range n {
		msg := nats.NewMsg(reply)
		msg.Header.Set(hdrStatus, "ok")
		msg.Header.Set(hdrPart, strconv.Itoa(i)+"/"+strconv.Itoa(n))
		if i == 0 {
			msg.Header.Set(hdrSize, strconv.Itoa(len(res)))
		}
		msg.Data = res[i*size : min((i+1)*size, len(res))]
		if err := s.nc.PublishMsg(msg); err != nil {
			// The caller sees a part missing, or times out.
			s.log.Warn("rpc answer not sent", "method", method, "part", i, "parts", n, "err", err)
			return
		}
	}
}

// chunkSize is ChunkSize, or less if the server's max payload is smaller.
func (s *server) chunkSize() int {
	size := ChunkSize
	if mp := int(s.nc.MaxPayload()) - headerRoom; mp > 0 && mp < size {
		size = max(mp, 1024)
	}
	return size
}
