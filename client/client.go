// Package client is a Go client of Lodestone's WebSocket API. It sends
// requests, matches responses to them by id, and delivers pushed events on a
// channel.
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
	"strconv"
	"sync"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
)

// ErrClosed is returned by calls on a closed client.
var ErrClosed = errors.New("client closed")

// EventBuffer is how many events the client holds for a reader of Events
// before it stops reading the connection (and the daemon, seeing its queue
// fill, eventually closes the connection).
const EventBuffer = 4096

// Client is a connection to a daemon. Its methods are safe for concurrent
// use. Close it when done.
type Client struct {
	ws     *websocket.Conn
	events chan api.Event
	raw    chan api.Response // responses no Call waits for

	mu      sync.Mutex
	next    uint64
	pending map[string]chan api.Response
	err     error // set once the connection ended
	done    chan struct{}

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: stops a blocked event delivery
}

// Options tune Dial.
type Options struct {
	// Header is added to the handshake request, e.g. an Origin.
	Header http.Header
}

// Dial connects to the WebSocket endpoint url (ws://host:port/ws) with
// token sent as a bearer token.
func Dial(ctx context.Context, url, token string) (*Client, error) {
	return DialOptions(ctx, url, token, Options{})
}

// DialOptions is Dial with options.
func DialOptions(ctx context.Context, url, token string, opts Options) (*Client, error) {
	h := http.Header{}
	for k, v := range opts.Header {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, &HandshakeError{StatusCode: resp.StatusCode, Err: err}
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &Client{
		ws:      ws,
		events:  make(chan api.Event, EventBuffer),
		raw:     make(chan api.Response, 64),
		pending: make(map[string]chan api.Response),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
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
// the connection ends.
func (c *Client) Events() <-chan api.Event { return c.events }

// Done is closed when the connection ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return nil
}

// Call sends method with params and decodes the result into result (which
// may be nil). A non-zero error code is returned as *api.Error.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("encode params: %w", err)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
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
	if err := c.WriteRaw(ctx, frame); err != nil {
		return err
	}
	select {
	case resp := <-ch:
		if resp.Error != api.CodeOK {
			return &api.Error{Code: resp.Error, Message: resp.Message}
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
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (c *Client) readLoop() {
	var err error
	defer func() {
		c.mu.Lock()
		if err == nil {
			err = ErrClosed
		}
		c.err = err
		c.mu.Unlock()
		close(c.events)
		close(c.done)
	}()
	ctx := context.Background()
	for {
		var data []byte
		_, data, err = c.ws.Read(ctx)
		if err != nil {
			err = fmt.Errorf("connection ended: %w", err)
			return
		}
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
			if json.Unmarshal(data, &ev) == nil {
				select {
				case c.events <- ev:
				case <-c.closing:
					return
				}
			}
			continue
		}
		var resp api.Response
		if json.Unmarshal(data, &resp) != nil {
			continue
		}
		c.mu.Lock()
		ch := c.pending[resp.ID]
		c.mu.Unlock()
		if ch != nil {
			ch <- resp
		} else {
			c.unmatched(resp)
		}
	}
}

// RawResponses delivers responses whose id no Call waits for, such as
// answers to WriteRaw frames. It holds the last 64; older ones are dropped.
func (c *Client) RawResponses() <-chan api.Response { return c.raw }

func (c *Client) unmatched(resp api.Response) {
	select {
	case c.raw <- resp:
	default:
	}
}
