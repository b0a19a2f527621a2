package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// conn is a raw WebSocket JSON connection: requests are written as given
// and responses matched by their string "id", so the same code drives
// Lodestone and aria2. Frames without a matching id (events,
// notifications) go to onOther when set.
type conn struct {
	ws      *websocket.Conn
	onOther func(frame []byte, at time.Time)
}

func dial(ctx context.Context, url, token string) (*conn, error) {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(256 << 20)
	return &conn{ws: ws}, nil
}

func (c *conn) close() { c.ws.Close(websocket.StatusNormalClosure, "") }

// envelope holds the fields needed to tell responses from pushed frames.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Name   string          `json:"name"`   // Lodestone event
	Method string          `json:"method"` // aria2 notification
	Error  json.RawMessage `json:"error"`
}

// idOf returns the numeric id of a response, or -1 for any other frame.
func idOf(frame []byte) (int, envelope) {
	var e envelope
	if json.Unmarshal(frame, &e) != nil || e.Name != "" || e.Method != "" || len(e.ID) < 2 {
		return -1, e
	}
	s, err := strconv.Unquote(string(e.ID))
	if err != nil {
		return -1, e
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1, e
	}
	return n, e
}

// call sends one request (mk(id)) and waits for its response.
func (c *conn) call(ctx context.Context, id int, frame []byte) ([]byte, error) {
	if err := c.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		return nil, err
	}
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		got, e := idOf(data)
		if got == id {
			if isError(e.Error) {
				return data, fmt.Errorf("error response: %.300s", data)
			}
			return data, nil
		}
		if c.onOther != nil {
			c.onOther(data, time.Now())
		}
	}
}

// isError reports whether a response's "error" is set: non-zero for
// Lodestone, an object for JSON-RPC 2.0.
func isError(raw json.RawMessage) bool {
	s := string(raw)
	return s != "" && s != "0" && s != "null"
}

// loadResult is what a request-rate run measured.
type loadResult struct {
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	Seconds  float64 `json:"seconds"`
	PerSec   float64 `json:"req_per_s"`
	P50us    float64 `json:"p50_us"`
	P99us    float64 `json:"p99_us"`
	MaxUs    float64 `json:"max_us"`
}

func summarize(lat []time.Duration, errs int, elapsed time.Duration) loadResult {
	slices.Sort(lat)
	r := loadResult{Requests: len(lat), Errors: errs, Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		r.PerSec = float64(len(lat)) / elapsed.Seconds()
	}
	if len(lat) > 0 {
		r.P50us = us(pct(lat, 0.50))
		r.P99us = us(pct(lat, 0.99))
		r.MaxUs = us(lat[len(lat)-1])
	}
	return r
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// sequential sends requests one at a time for at most n requests or dur.
func (c *conn) sequential(ctx context.Context, mk func(id int) []byte, n int, dur time.Duration) loadResult {
	lat := make([]time.Duration, 0, n)
	errs := 0
	start := time.Now()
	for i := 0; i < n && time.Since(start) < dur; i++ {
		t0 := time.Now()
		if _, err := c.call(ctx, i, mk(i)); err != nil {
			errs++
			if ctx.Err() != nil || websocket.CloseStatus(err) != -1 {
				break
			}
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	return summarize(lat, errs, time.Since(start))
}

// pipelined keeps up to window requests outstanding on the connection,
// for at most n requests or dur; latency is from write to response.
func (c *conn) pipelined(ctx context.Context, mk func(id int) []byte, window, n int, dur time.Duration) loadResult {
	sent := make([]atomic.Int64, n)
	lat := make([]time.Duration, 0, n)
	var errs atomic.Int64
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var written atomic.Int64
	written.Store(-1)
	done := make(chan struct{})
	start := time.Now()
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		i := 0
		for ; i < n && time.Since(start) < dur; i++ {
			select {
			case sem <- struct{}{}:
			case <-done:
				written.Store(int64(i))
				return
			}
			sent[i].Store(time.Now().UnixNano())
			if err := c.ws.Write(ctx, websocket.MessageText, mk(i)); err != nil {
				errs.Add(1)
				written.Store(int64(i))
				return
			}
		}
		written.Store(int64(i))
		// A last request (id n) whose answer tells the reader that no
		// more are coming, so it never waits on a silent connection.
		if err := c.ws.Write(ctx, websocket.MessageText, mk(n)); err != nil {
			errs.Add(1)
		}
	}()
	got, end := 0, false
	for {
		if w := written.Load(); end && w >= 0 && got >= int(w) {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, data, err := c.ws.Read(rctx)
		cancel()
		if err != nil {
			errs.Add(1)
			break
		}
		now := time.Now()
		id, e := idOf(data)
		if id == n {
			end = true
			continue
		}
		if id < 0 || id > n {
			if c.onOther != nil {
				c.onOther(data, now)
			}
			continue
		}
		got++
		if isError(e.Error) {
			errs.Add(1)
		} else {
			lat = append(lat, time.Duration(now.UnixNano()-sent[id].Load()))
		}
		<-sem
	}
	elapsed := time.Since(start)
	close(done)
	wg.Wait()
	return summarize(lat, int(errs.Load()), elapsed)
}
