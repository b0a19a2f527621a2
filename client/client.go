// Package client is a Go client of Lodestone's WebSocket API. It sends
// requests, matches responses to them by id, and delivers pushed events on a
// channel. With Options.Reconnect it survives dropped connections: it dials
// again and replays the events it missed, so its event stream has no gap
// and no duplicate.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:6810/ws", token)
//	res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri})
//	for ev := range c.Events() { ... }
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
)

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client closed")

// ErrDisconnected is returned by calls whose connection dropped before the
// answer came (with Reconnect, the call may be sent again).
var ErrDisconnected = errors.New("connection lost")

// EventBuffer is how many events the client holds for a reader of Events
// before it stops reading the connection (and the daemon, seeing its queue
// fill, eventually closes the connection).
const EventBuffer = 4096

// Options tune Dial.
type Options struct {
	// Header is added to the handshake request, e.g. an Origin.
	Header http.Header
	// HTTPClient makes the handshake request; nil means
	// http.DefaultClient. Set it to trust a daemon's own TLS certificate
	// (wss://).
	HTTPClient *http.Client
	// Reconnect makes the client dial again when the connection drops,
	// with backoff, restore its event subscription and replay the events
	// it missed (events.replay). Events then ends only with Close, or
	// when the daemon's log no longer holds what was missed (Err says so).
	Reconnect bool
	// FrameHook, when set, sees every frame the client sends (dir
	// FrameSent, or FrameSentRaw for WriteRaw's) before it is written,
	// and every frame it receives (FrameReceived) before it is handled:
	// tests validate them against the API's schema. It is called from
	// several goroutines at once and must not keep frame.
	FrameHook func(dir string, frame []byte)
}

// Directions of the frames Options.FrameHook sees.
const (
	// FrameSent is a request the client encoded.
	FrameSent = "sent"
	// FrameSentRaw is a frame WriteRaw sent as it was given, which may
	// be deliberately invalid.
	FrameSentRaw = "sent-raw"
	// FrameReceived is a response or an event from the daemon.
	FrameReceived = "received"
)

// hook hands a frame to Options.FrameHook.
func (c *Client) hook(dir string, frame []byte) {
	if c.opts.FrameHook != nil {
		c.opts.FrameHook(dir, frame)
	}
}

// Client is a connection to a daemon. Its methods are safe for concurrent
// use. Close it when done.
type Client struct {
	url, token string
	opts       Options
	events     chan api.Event
	raw        chan api.Response // responses no Call waits for

	mu        sync.Mutex
	ws        *websocket.Conn // current connection; nil while reconnecting
	up        chan struct{}   // closed when ws is set
	next      uint64
	pending   map[string]chan api.Response
	err       error // set once the client ended
	lastEvent uint64
	subscribe []string // names of the last events.subscribe; nil = default
	redials   int      // successful reconnects

	done      chan struct{}
	closeOnce sync.Once
	closing   chan struct{} // closed by Close
}

// Dial connects to the WebSocket endpoint url (ws://host:port/ws) with
// token sent as a bearer token.
func Dial(ctx context.Context, url, token string) (*Client, error) {
	return DialOptions(ctx, url, token, Options{})
}

// DialOptions is Dial with options.
func DialOptions(ctx context.Context, url, token string, opts Options) (*Client, error) {
	c := &Client{
		url: url, token: token, opts: opts,
		events:  make(chan api.Event, EventBuffer),
		raw:     make(chan api.Response, 64),
		pending: make(map[string]chan api.Response),
		up:      make(chan struct{}),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	ws, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.setConn(ws)
	go c.run(ws)
	if opts.Reconnect {
		// Replay after a drop starts from now, not from the oldest logged
		// event.
		info, err := c.ServerInfo(ctx)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("server.info: %w", err)
		}
		if seq, err := strconv.ParseUint(info.LastEventID, 10, 64); err == nil {
			c.mu.Lock()
			c.lastEvent = max(c.lastEvent, seq)
			c.mu.Unlock()
		}
	}
	return c, nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	h := http.Header{}
	for k, v := range c.opts.Header {
		h[k] = v
	}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	ws, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: c.opts.HTTPClient})
	if err != nil {
		if resp != nil {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("dial %s: %w", c.url, err)
	}
	ws.SetReadLimit(64 << 20)
	return ws, nil
}

func (c *Client) setConn(ws *websocket.Conn) {
	c.mu.Lock()
	c.ws = ws
	close(c.up)
	c.mu.Unlock()
}

// HandshakeError is a refused connection: StatusCode is the HTTP status
// (401 for a bad token, 403 for a refused Origin or Host).
type HandshakeError struct {
	StatusCode int
	Err        error
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: HTTP %d: %v", e.StatusCode, e.Err)
}
func (e *HandshakeError) Unwrap() error { return e.Err }

// Events delivers pushed events in the order received. It is closed when
// the client ends.
func (c *Client) Events() <-chan api.Event { return c.events }

// Done is closed when the client ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client ended, or nil while it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Reconnects returns how many times the client connected again after a
// dropped connection.
func (c *Client) Reconnects() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.redials
}

// Close closes the connection and ends the client.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		ws.Close(websocket.StatusNormalClosure, "")
	}
	<-c.done
	return nil
}

// conn waits for a live connection.
func (c *Client) conn(ctx context.Context) (*websocket.Conn, error) {
	for {
		c.mu.Lock()
		ws, up, err := c.ws, c.up, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if ws != nil {
			return ws, nil
		}
		select {
		case <-up:
		case <-c.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Call sends method with params and decodes the result into result (which
// may be nil). A non-zero error code is returned as *api.Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode params: %w", err)
	}
	ws, err := c.conn(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.next++
	id := strconv.FormatUint(c.next, 10)
	ch := make(chan api.Response, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	frame, err := json.Marshal(api.Request{ID: id, Method: method, Params: raw})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	c.hook(FrameSent, frame)
	if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("%w: write: %w", ErrDisconnected, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return ErrDisconnected
		}
		if resp.Error != api.CodeOK {
			return &api.Error{Code: resp.Error, Message: resp.Message}
		}
		if method == api.MethodEventsSubscribe {
			// Remembered to restore the subscription after a reconnect.
			var r api.EventsSubscribeResult
			if err := json.Unmarshal(resp.Result, &r); err == nil {
				c.mu.Lock()
				c.subscribe = append([]string{}, r.Names...)
				c.mu.Unlock()
			}
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("decode %s result: %w", method, err)
		}
		return nil
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteRaw sends one text frame as is. It is meant for tests of the
// protocol itself: the answer arrives on RawResponses unless its id is one
// a Call waits for.
func (c *Client) WriteRaw(ctx context.Context, frame []byte) error {
	ws, err := c.conn(ctx)
	if err != nil {
		return err
	}
	c.hook(FrameSentRaw, frame)
	if err := ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// RawResponses delivers responses whose id no Call waits for, such as
// answers to WriteRaw frames. It holds the last 64; older ones are dropped.
func (c *Client) RawResponses() <-chan api.Response { return c.raw }

// run reads connections until the client ends.
func (c *Client) run(ws *websocket.Conn) {
	var err error
	defer func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.events)
		close(c.done)
	}()
	replayID := ""
	for {
		err = c.read(ws, replayID)
		c.dropConn(ws)
		select {
		case <-c.closing:
			err = ErrClosed
			return
		default:
		}
		if !c.opts.Reconnect {
			return
		}
		if ws, replayID, err = c.redial(); err != nil {
			return
		}
	}
}

// dropConn forgets ws and fails the calls waiting on it.
func (c *Client) dropConn(ws *websocket.Conn) {
	ws.CloseNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ws = nil
	c.up = make(chan struct{})
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// redial connects again with backoff and asks for the missed events. It
// returns the id of the events.replay request.
func (c *Client) redial() (*websocket.Conn, string, error) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-c.closing:
			return nil, "", ErrClosed
		case <-time.After(backoff):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, err := c.dial(ctx)
		cancel()
		if err != nil {
			var he *HandshakeError
			if errors.As(err, &he) && (he.StatusCode == http.StatusUnauthorized || he.StatusCode == http.StatusForbidden) {
				return nil, "", err
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		// Restore the subscription, then replay: both answered on this
		// connection before anything else it sends us matters.
		c.mu.Lock()
		names, after := c.subscribe, c.lastEvent
		c.next += 2
		subID, replayID := strconv.FormatUint(c.next-1, 10), strconv.FormatUint(c.next, 10)
		c.mu.Unlock()
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = nil
		if names != nil {
			err = c.writeRequest(wctx, ws, subID, api.MethodEventsSubscribe, api.EventsSubscribeParams{Names: names})
		}
		if err == nil {
			err = c.writeRequest(wctx, ws, replayID, api.MethodEventsReplay, api.EventsReplayParams{After: strconv.FormatUint(after, 10)})
		}
		cancel()
		if err != nil {
			ws.CloseNow()
			continue
		}
		c.mu.Lock()
		c.redials++
		c.mu.Unlock()
		c.setConn(ws)
		return ws, replayID, nil
	}
}

func (c *Client) writeRequest(ctx context.Context, ws *websocket.Conn, id, method string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	frame, err := json.Marshal(api.Request{ID: id, Method: method, Params: raw})
	if err != nil {
		return err
	}
	c.hook(FrameSent, frame)
	return ws.Write(ctx, websocket.MessageText, frame)
}

// ErrReplayIncomplete ends a reconnecting client whose missed events are
// no longer in the daemon's log: re-read the state (task.list) and dial
// again.
var ErrReplayIncomplete = errors.New("missed events are no longer in the daemon's log")

// read delivers one connection's frames until it fails. When replayID is
// set, logged events that arrive before that replay's answer are dropped:
// the replay resends them, in order, after its answer.
func (c *Client) read(ws *websocket.Conn, replayID string) error {
	ctx := context.Background()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			return fmt.Errorf("connection ended: %w", err)
		}
		c.hook(FrameReceived, data)
		// An event has "name"; a response has "error".
		var probe struct {
			Name  *string `json:"name"`
			Error *int    `json:"error"`
		}
		if json.Unmarshal(data, &probe) != nil {
			continue
		}
		if probe.Name != nil && probe.Error == nil {
			var ev api.Event
			if json.Unmarshal(data, &ev) != nil {
				continue
			}
			ephemeral := slices.Contains(api.EphemeralEvents, ev.Name)
			if replayID != "" && !ephemeral {
				continue
			}
			if !ephemeral {
				if seq, err := strconv.ParseUint(ev.ID, 10, 64); err == nil {
					c.mu.Lock()
					c.lastEvent = max(c.lastEvent, seq)
					c.mu.Unlock()
				}
			}
			select {
			case c.events <- ev:
			case <-c.closing:
				return ErrClosed
			}
			continue
		}
		var resp api.Response
		if json.Unmarshal(data, &resp) != nil {
			continue
		}
		if replayID != "" && resp.ID == replayID {
			var r api.EventsReplayResult
			if resp.Error != api.CodeOK || json.Unmarshal(resp.Result, &r) != nil {
				return fmt.Errorf("events.replay failed: %s", resp.Message)
			}
			if !r.Complete {
				c.opts.Reconnect = false
				return ErrReplayIncomplete
			}
			replayID = ""
			continue
		}
		c.mu.Lock()
		ch := c.pending[resp.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
			continue
		}
		select {
		case c.raw <- resp:
		default:
		}
	}
}
