package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// conn is one WebSocket client: a reader (the goroutine of run), a
// writer, a pinger, a closer once the connection ends for cause, and up to
// Config.Inflight request handlers. run starts them all in wg and returns
// only when they have ended.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	log    *slog.Logger
	sub    *events.Subscription
	out    chan []byte // responses, written by the writer
	replay chan replayRequest
	slots  chan struct{} // request concurrency limit
	rate   *rate.Limiter // frames per second; nil means unlimited
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup // every goroutine of the connection but run's

	// principal is who opened the connection; limited is true when it
	// is an API key, whose scope and liveness each request checks
	// (permit). The token's connections skip the check.
	principal httpguard.Principal
	limited   bool

	// writes counts the writes under way and writeStart holds when the
	// latest began (Unix ns; 0 when none), for pingLoop's watch.
	writes     atomic.Int32
	writeStart atomic.Int64
}

func newConn(s *Server, ws *websocket.Conn, remote string, p httpguard.Principal) *conn {
	var lim *rate.Limiter
	if s.cfg.RequestRate > 0 {
		lim = rate.NewLimiter(rate.Limit(s.cfg.RequestRate), s.cfg.RequestBurst)
	}
	return &conn{
		principal: p,
		limited:   !p.IsToken(),
		rate:      lim,
		s:         s,
		ws:        ws,
		log:       s.log.With("remote", remote),
		out:       make(chan []byte, s.cfg.Inflight),
		replay:    make(chan replayRequest),
		slots:     make(chan struct{}, s.cfg.Inflight),
	}
}

// closeReason is the close frame sent when a connection ends for cause.
type closeReason struct {
	code websocket.StatusCode
	msg  string
}

func (r *closeReason) Error() string { return r.msg }

var (
	reasonLagging  = &closeReason{websocket.StatusPolicyViolation, "event queue overflow: client too slow"}
	reasonShutdown = &closeReason{websocket.StatusGoingAway, "daemon shutting down"}
	reasonNoPong   = &closeReason{websocket.StatusPolicyViolation, "no pong"}
	reasonWrite    = &closeReason{websocket.StatusPolicyViolation, "write timed out"}
	reasonRevoked  = &closeReason{websocket.StatusPolicyViolation, "key revoked"}
)

func (c *conn) run(parent context.Context) {
	ctx, cancel := context.WithCancelCause(parent)
	c.cancel = cancel
	c.sub = c.s.hub.Subscribe(defaultEvents)
	defer c.sub.Close()
	c.log.Debug("client connected")

	c.wg.Go(func() { c.writeLoop(ctx) })
	c.wg.Go(func() { c.pingLoop(ctx) })
	// A cause (lagging, no pong, shutdown) is sent as a close frame; that
	// ends the read below. The reader's own context is not cancelled, as
	// that would drop the TCP connection before the close frame. The
	// closer is counted in wg now, as it may run at any time from here.
	c.wg.Add(1)
	stopWatch := context.AfterFunc(ctx, func() {
		defer c.wg.Done()
		reason := context.Cause(ctx)
		var cr *closeReason
		if !errors.As(reason, &cr) {
			cr = reasonShutdown
		}
		c.log.Info("closing client", "reason", cr.msg)
		c.ws.Close(cr.code, cr.msg)
	})
	c.readLoop(ctx)
	if stopWatch() {
		// The client went away by itself; the closer will never run.
		c.wg.Done()
		c.log.Debug("client disconnected")
	}
	cancel(nil)
	// The writer, the pinger and the handlers end with ctx; the closer
	// within the library's close handshake timeout.
	c.wg.Wait()
	c.ws.CloseNow()
}

// readLoop reads requests until the connection fails or ctx ends.
func (c *conn) readLoop(ctx context.Context) {
	for {
		typ, data, err := c.ws.Read(context.WithoutCancel(ctx))
		if err != nil {
			if st := websocket.CloseStatus(err); st == -1 && ctx.Err() == nil {
				c.log.Debug("read", "err", err)
			}
			return
		}
		if c.rate != nil && c.rate.Wait(ctx) != nil {
			return // the connection is ending
		}
		if typ != websocket.MessageText {
			c.send(ctx, errorResponse("", refuse(errInvalidRequest, "binary frames are not accepted: send JSON in text frames")))
			continue
		}
		// The envelope is decoded here, once; the method runs below.
		req, err := c.parse(data)
		if err != nil {
			code, msg := errorCode(err)
			c.s.observe(MethodInvalid, code, 0)
			c.send(ctx, encodeError(req.ID, code, msg))
			continue
		}
		if c.limited && !c.permit(ctx, req) {
			continue
		}
		if inlineMethods[req.Method] {
			// Quick reads run here and are written from here (see
			// inlineMethods): no handoff to another goroutine.
			if !c.writeNow(ctx, c.handle(ctx, req)) {
				return
			}
			continue
		}
		if strings.HasPrefix(req.Method, "events.") {
			// Methods that change this connection's event stream run in
			// the order sent, so "subscribe, then replay" replays with
			// the new subscription.
			if resp := c.handle(ctx, req); resp != nil {
				c.send(ctx, resp)
			}
			continue
		}
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		c.wg.Go(func() {
			defer func() { <-c.slots }()
			if resp := c.handle(ctx, req); resp != nil {
				c.send(ctx, resp)
			}
		})
	}
}

// parse checks a frame's nesting depth, then decodes it (decodeRequest):
// the decoder is never given a deeper nest than MaxDepth to walk.
func (c *conn) parse(data []byte) (api.Request, error) {
	if !depthOK(data, c.s.cfg.MaxDepth) {
		return api.Request{}, refuse(errInvalidRequest, "JSON nested deeper than %d levels", c.s.cfg.MaxDepth)
	}
	return decodeRequest(data)
}

// handle runs one decoded request and returns its response (nil when the
// writer answers), recovering from a handler's panic.
func (c *conn) handle(ctx context.Context, req api.Request) (resp []byte) {
	id := req.ID
	method, code, start := req.Method, api.CodeOK, time.Now()
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panic", "id", id, "panic", p, "stack", string(debug.Stack()))
			// A panic is a bug: its value says nothing a client can use.
			resp, code = encodeError(id, api.CodeInternal, "internal error"), api.CodeInternal
		}
		c.s.observe(method, code, time.Since(start))
	}()
	h, ok := c.s.methods[req.Method]
	if !ok {
		method = MethodUnknown
		resp, code = c.failed(id, req.Method, refuse(errUnknownMethod, "unknown method %q", req.Method))
		return resp
	}
	if r := c.s.cfg.Router; r != nil {
		raw, routed, err := r.Route(ctx, req.Method, req.Params)
		if err != nil {
			resp, code = c.failed(id, req.Method, err)
			return resp
		}
		if routed {
			return resultResponse(id, encoded(raw))
		}
	}
	result, err := h(context.WithValue(ctx, requestIDKey{}, id), c, req.Params)
	if errors.Is(err, errDeferred) {
		return nil // the writer answers (events.replay)
	}
	if err != nil {
		resp, code = c.failed(id, req.Method, err)
		return resp
	}
	return resultResponse(id, result)
}

// failed returns the answer to request id of method that failed with
// err, and its code (errorCode). An internal error is logged: the client
// sees it, but only the log says it needs fixing.
func (c *conn) failed(id, method string, err error) ([]byte, api.Code) {
	code, msg := errorCode(err)
	if code == api.CodeInternal {
		c.log.Error("request failed", "id", id, "method", method, "err", err)
	}
	return encodeError(id, code, msg), code
}

// writeNow writes frame from the calling goroutine, beside the writer's
// writes (the library orders them). A write that takes longer than the
// write timeout ends the connection: watchWrites checks, so that a write
// costs no timer of its own (with 1,000 clients an event is 1,000
// writes). It reports false when the connection is ending.
func (c *conn) writeNow(ctx context.Context, frame []byte) bool {
	c.writes.Add(1)
	c.writeStart.Store(time.Now().UnixNano())
	err := c.ws.Write(ctx, websocket.MessageText, frame)
	if c.writes.Add(-1) == 0 {
		c.writeStart.Store(0)
	}
	if err != nil {
		if ctx.Err() == nil {
			c.log.Debug("write", "err", err)
			c.cancel(reasonWrite)
		}
		return false
	}
	return true
}

// send queues a response for the writer; it waits for room (responses are
// never dropped) unless the connection is ending.
func (c *conn) send(ctx context.Context, frame []byte) {
	select {
	case c.out <- frame:
	case <-ctx.Done():
	}
}

// writeLoop writes responses and events until ctx ends or a write fails.
func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-c.sub.Done():
			if errors.Is(c.sub.Err(), events.ErrLagging) {
				// Close now: the events still queued are dropped, not
				// written first (a stuck client would hold them for
				// 1024 write timeouts).
				c.cancel(reasonLagging)
				return
			}
		default:
		}
		frame, event := c.sub.Next() // anything ready, in delivery order
		if !event {
			frame, event = c.nextFrame(ctx)
		}
		if frame == nil {
			return
		}
		if event && c.limited && !c.principal.Live() {
			continue // a revoked key reads nothing more (see permit)
		}
		if !c.writeNow(ctx, frame) {
			return
		}
	}
}

// nextFrame waits for the next response or event, and says which it is;
// nil means stop.
func (c *conn) nextFrame(ctx context.Context) (frame []byte, event bool) {
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case frame := <-c.out:
			return frame, false
		case frame := <-c.sub.C():
			return frame, true
		case <-c.sub.Kick():
			// A snapshot; Next also takes any live event queued before it.
			if frame, ok := c.sub.Next(); ok {
				return frame, true
			}
		case rq := <-c.replay:
			// Here, in the only consumer of the subscription, no event is
			// in flight: the replay cannot duplicate or reorder one. The
			// replayed events follow through Next.
			return c.doReplay(rq), false
		case <-c.sub.Done():
			if errors.Is(c.sub.Err(), events.ErrLagging) {
				c.cancel(reasonLagging)
			} else {
				c.cancel(reasonShutdown)
			}
			return nil, false
		}
	}
}

// pingLoop closes a client that stops answering pings.
func (c *conn) pingLoop(ctx context.Context) {
	// It also watches writes: every quarter of the write timeout, a
	// connection whose writes have been under way longer than the timeout
	// is ended (reasonWrite), which aborts the stuck write.
	watch := time.NewTicker(c.s.cfg.WriteTimeout / 4)
	defer watch.Stop()
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-watch.C:
			if start := c.writeStart.Load(); start != 0 && now.Sub(time.Unix(0, start)) > c.s.cfg.WriteTimeout {
				c.log.Debug("write timed out")
				c.cancel(reasonWrite)
				return
			}
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, c.s.cfg.PingInterval)
			err := c.ws.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				c.cancel(reasonNoPong)
				return
			}
		}
	}
}
