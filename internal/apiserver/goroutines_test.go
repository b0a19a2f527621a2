package apiserver

import (
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// memLog is an events.Log in memory.
type memLog struct {
	mu  sync.Mutex
	seq uint64
}

func (l *memLog) ReserveSeq(n uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.seq + 1
	l.seq += n
	return first, nil
}

func (l *memLog) AppendEvents([]uint64, [][]byte) error { return nil }

func (l *memLog) EventsAfter(uint64, func(uint64, []byte) bool) (uint64, error) { return 0, nil }

// connGoroutines returns the stacks of goroutines still in a
// connection's work: its loops, a handler, or the closer's close
// handshake. (A goroutine past its WaitGroup's Done, only returning, is
// not counted: it has nothing left to do.)
func connGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{"apiserver.(*conn).writeLoop", "apiserver.(*conn).pingLoop", "apiserver.(*conn).readLoop",
			"apiserver.(*conn).handle", "websocket.(*Conn).Close("} {
			if strings.Contains(g, fn) {
				found = append(found, g)
				break
			}
		}
	}
	return found
}

// Every goroutine a connection starts (writer, pinger, closer, handlers)
// has ended when Close returns, whoever ended the connection.
func TestConnGoroutinesJoined(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close func(s *Server, c *websocket.Conn)
	}{
		{"server closes", func(s *Server, _ *websocket.Conn) { s.Close() }},
		{"client closes", func(s *Server, c *websocket.Conn) {
			c.Close(websocket.StatusNormalClosure, "")
			s.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := httpguard.New(httpguard.Config{Token: "secret"})
			if err != nil {
				t.Fatal(err)
			}
			hub := events.New(&memLog{}, events.Options{})
			defer hub.Close()
			s, err := New(Config{Guard: g, PingInterval: 5 * time.Millisecond}, nil, hub)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"?token=secret", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			// Answer pings, and see a request through a handler.
			go func() {
				for {
					if _, _, err := c.Read(ctx); err != nil {
						return
					}
				}
			}()
			if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":"1","method":"no.such"}`)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // a few pings
			tc.close(s, c)
			if left := connGoroutines(); len(left) > 0 {
				t.Fatalf("%d goroutines of the connection outlive Close:\n%s", len(left), strings.Join(left, "\n\n"))
			}
		})
	}
}
