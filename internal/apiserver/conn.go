package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// conn is one WebSocket client: a reader (this goroutine), a writer, and
// up to Config.Inflight request handlers.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	log    *slog.Logger
	sub    *events.Subscription
	out    chan []byte   // responses, written by the writer
	slots  chan struct{} // request concurrency limit
	cancel context.CancelCauseFunc
}

func newConn(s *Server, ws *websocket.Conn, remote string) *conn {
	return &conn{
		s:     s,
		ws:    ws,
		log:   s.log.With("remote", remote),
		out:   make(chan []byte, s.cfg.Inflight),
		slots: make(chan struct{}, s.cfg.Inflight),
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
)

func (c *conn) run(parent context.Context) {
	ctx, cancel := context.WithCancelCause(parent)
	c.cancel = cancel
	c.sub = c.s.hub.Subscribe()
	defer c.sub.Close()
	c.log.Debug("client connected")

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.writeLoop(ctx)
	}()
	go c.pingLoop(ctx)
	c.readLoop(ctx)
	cancel(nil)
	<-done
	// Wait for handlers to finish before the connection is gone.
	for range cap(c.slots) {
		c.slots <- struct{}{}
	}
	reason := context.Cause(ctx)
	var cr *closeReason
	switch {
	case errors.As(reason, &cr):
	case parent.Err() != nil:
		cr = reasonShutdown
	}
	if cr != nil {
		c.ws.Close(cr.code, cr.msg)
		c.log.Info("client closed", "reason", cr.msg)
	} else {
		c.ws.CloseNow()
		c.log.Debug("client disconnected")
	}
}

// readLoop reads requests until the connection fails or ctx ends.
func (c *conn) readLoop(ctx context.Context) {
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st == -1 && ctx.Err() == nil {
				c.log.Debug("read", "err", err)
			}
			return
		}
		if typ != websocket.MessageText {
			c.send(ctx, errorResponse("", api.CodeInvalidRequest, "binary frames are not accepted: send JSON in text frames"))
			continue
		}
		select {
		case c.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		go func() {
			defer func() { <-c.slots }()
			c.send(ctx, c.handle(ctx, data))
		}()
	}
}

// handle answers one message, recovering from a handler's panic.
func (c *conn) handle(ctx context.Context, data []byte) (resp []byte) {
	id := ""
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("handler panic", "id", id, "panic", p, "stack", string(debug.Stack()))
			resp = errorResponse(id, api.CodeInternal, "internal error")
		}
	}()
	req, code, msg := decodeRequest(data)
	id = req.ID
	if code != api.CodeOK {
		return errorResponse(id, code, msg)
	}
	h, ok := c.s.methods[req.Method]
	if !ok {
		return errorResponse(id, api.CodeUnknownMethod, fmt.Sprintf("unknown method %q", req.Method))
	}
	result, err := h(ctx, req.Params)
	if err != nil {
		code, msg := errorCode(err)
		if code == api.CodeInternal {
			c.log.Error("request failed", "id", id, "method", req.Method, "err", err)
		}
		return errorResponse(id, code, msg)
	}
	return resultResponse(id, result)
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
		var frame []byte
		select {
		case <-ctx.Done():
			return
		case frame = <-c.out:
		case frame = <-c.sub.C():
		case <-c.sub.Done():
			if errors.Is(c.sub.Err(), events.ErrLagging) {
				c.cancel(reasonLagging)
			} else {
				c.cancel(reasonShutdown)
			}
			return
		}
		wctx, cancel := context.WithTimeout(ctx, c.s.cfg.WriteTimeout)
		err := c.ws.Write(wctx, websocket.MessageText, frame)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("write", "err", err)
				c.cancel(reasonWrite)
			}
			return
		}
	}
}

// pingLoop closes a client that stops answering pings.
func (c *conn) pingLoop(ctx context.Context) {
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
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
