package connguard

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// authHeader marks a request of the test server as passing the token
// check, as httpguard's hook does in the daemon.
const authHeader = "X-Test-Auth"

// serve runs an http.Server on 127.0.0.1 behind a Guard for cfg, until
// the test ends, and returns its address and the Guard. Its handler
// answers "ok", marks the connection authenticated when authHeader is
// set, and on /hijack takes the connection over and echoes lines.
func serve(t *testing.T, cfg Config) (string, *Guard) {
	t.Helper()
	g := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(authHeader) != "" {
			MarkAuthenticated(r.Context())
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		rw.WriteString("hijacked\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				return
			}
			rw.WriteString(line)
			rw.Flush()
		}
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
		ConnContext:       g.ConnContext,
		ConnState:         g.ConnState,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(g.Listener(ln, nil)) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String(), g
}

// conn is a client's keep-alive connection.
type conn struct {
	net.Conn
	br *bufio.Reader
}

// dial connects to addr from the loopback address src (any of
// 127.0.0.0/8 works on Linux), closing the connection when the test ends.
func dial(t *testing.T, src, addr string) *conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{Conn: c, br: bufio.NewReader(c)}
}

// get sends GET path on c (authenticated if auth) and reads the answer.
func (c *conn) get(path string, auth bool) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	if auth {
		req += authHeader + ": 1\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		return errors.New("answer " + resp.Status + ": " + string(body))
	}
	return nil
}

// mustGet is get, failing the test on an error.
func (c *conn) mustGet(t *testing.T, auth bool) {
	t.Helper()
	if err := c.get("/", auth); err != nil {
		t.Fatalf("request from %v: %v", c.LocalAddr(), err)
	}
}

// waitClosed waits for the server to close c.
func waitClosed(t *testing.T, c *conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := c.br.ReadByte()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
		if err == nil {
			t.Fatalf("%v: unexpected byte from the server", c.LocalAddr())
		}
		return
	}
	t.Fatalf("%v: not closed by the server: %v", c.LocalAddr(), err)
}

// waitIdle waits until n unauthenticated connections are tracked, all
// idle (the server sets a connection idle just after it writes an
// answer, which the client may read first).
func waitIdle(t *testing.T, g *Guard, n int) {
	t.Helper()
	for range 2000 {
		g.mu.Lock()
		idle := 0
		for _, e := range g.conns {
			if !e.auth && e.idle {
				idle++
			}
		}
		ok := idle == n && g.unauth == n
		g.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("want %d idle unauthenticated connections; have %d unauthenticated", n, g.Unauthenticated())
}

// waitUnauth waits until n unauthenticated connections are tracked.
func waitUnauth(t *testing.T, g *Guard, n int) {
	t.Helper()
	for range 2000 {
		if g.Unauthenticated() == n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%d unauthenticated connections, want %d", g.Unauthenticated(), n)
}

// At the total cap a new connection is admitted and the one idle the
// longest is closed; the others are untouched.
func TestTotalCapClosesOldestIdle(t *testing.T) {
	addr, g := serve(t, Config{MaxUnauth: 4, MaxUnauthPerAddr: 100})
	var cs []*conn
	for i := range 4 {
		c := dial(t, "127.0.0.1", addr)
		c.mustGet(t, false)
		waitIdle(t, g, i+1)
		cs = append(cs, c)
	}
	// The second becomes the most recently idle one after the first.
	cs[0].mustGet(t, false)
	waitIdle(t, g, 4)
	last := dial(t, "127.0.0.1", addr)
	last.mustGet(t, false)
	waitClosed(t, cs[1])
	for _, c := range append([]*conn{cs[0], last}, cs[2:]...) {
		c.mustGet(t, false)
	}
	if n := g.Unauthenticated(); n != 4 {
		t.Fatalf("%d unauthenticated connections, want 4", n)
	}
}

// With none idle (all still sending their first request), the one
// accepted first is closed: strangers holding half-sent requests cannot
// keep a new connection out.
func TestTotalCapClosesOldestBusy(t *testing.T) {
	addr, g := serve(t, Config{MaxUnauth: 2, MaxUnauthPerAddr: 100})
	first := dial(t, "127.0.0.1", addr)
	waitUnauth(t, g, 1)
	second := dial(t, "127.0.0.1", addr)
	waitUnauth(t, g, 2)
	if _, err := io.WriteString(second, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	third := dial(t, "127.0.0.1", addr)
	third.mustGet(t, false)
	waitClosed(t, first)
	if _, err := io.WriteString(second, "Host: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(second.br, nil)
	if err != nil {
		t.Fatalf("the second connection was cut off too: %v", err)
	}
	resp.Body.Close()
}

// One address's connections beyond its cap replace its own oldest ones;
// another address's are untouched. Loopback addresses stand in for
// remote ones.
func TestPerAddressCap(t *testing.T) {
	addr, g := serve(t, Config{MaxUnauth: 100, MaxUnauthPerAddr: 2, CapLoopbackPerAddr: true})
	a1 := dial(t, "127.0.0.2", addr)
	a1.mustGet(t, false)
	waitIdle(t, g, 1)
	b := dial(t, "127.0.0.3", addr)
	b.mustGet(t, false)
	waitIdle(t, g, 2)
	a2 := dial(t, "127.0.0.2", addr)
	a2.mustGet(t, false)
	waitIdle(t, g, 3)
	a3 := dial(t, "127.0.0.2", addr)
	a3.mustGet(t, false)
	waitClosed(t, a1)
	b.mustGet(t, false)
	a2.mustGet(t, false)
	if n := g.Unauthenticated(); n != 3 {
		t.Fatalf("%d unauthenticated connections, want 3", n)
	}
}

// An authenticated connection is not counted and never closed for the
// caps; a hijacked one is left to its new owner.
func TestAuthenticatedAndHijackedNotCapped(t *testing.T) {
	addr, g := serve(t, Config{MaxUnauth: 2, MaxUnauthPerAddr: 2, CapLoopbackPerAddr: true})
	owner := dial(t, "127.0.0.1", addr)
	owner.mustGet(t, true)
	hj := dial(t, "127.0.0.1", addr)
	if _, err := io.WriteString(hj, "GET /hijack HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := hj.br.ReadString('\n'); err != nil || line != "hijacked\n" {
		t.Fatalf("hijack: %q, %v", line, err)
	}
	waitUnauth(t, g, 0)
	for range 6 {
		dial(t, "127.0.0.1", addr).mustGet(t, false)
	}
	owner.mustGet(t, false)
	if _, err := io.WriteString(hj, "still here\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := hj.br.ReadString('\n'); err != nil || line != "still here\n" {
		t.Fatalf("hijacked connection: %q, %v", line, err)
	}
	if n := g.Unauthenticated(); n > 2 {
		t.Fatalf("%d unauthenticated connections, want at most 2", n)
	}
}

// An unauthenticated connection is closed after UnauthIdle between
// requests; an authenticated one idle for longer is kept.
func TestUnauthenticatedIdleTimeout(t *testing.T) {
	addr, _ := serve(t, Config{UnauthIdle: 100 * time.Millisecond})
	owner := dial(t, "127.0.0.1", addr)
	owner.mustGet(t, true)
	stranger := dial(t, "127.0.0.1", addr)
	stranger.mustGet(t, false)
	waitClosed(t, stranger)
	owner.mustGet(t, false)
}

// Loopback clients count only in the total by default.
func TestLoopbackNotCappedPerAddress(t *testing.T) {
	addr, g := serve(t, Config{MaxUnauth: 100, MaxUnauthPerAddr: 2})
	var cs []*conn
	for i := range 5 {
		c := dial(t, "127.0.0.1", addr)
		c.mustGet(t, false)
		waitIdle(t, g, i+1)
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.mustGet(t, false)
	}
}
