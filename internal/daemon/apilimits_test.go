package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// dialFrom opens a raw WebSocket to url from the loopback address src
// (any of 127.0.0.0/8 works on Linux's lo), returning the HTTP status of a
// refused handshake.
func dialFrom(t *testing.T, src, url, token string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	return websocket.Dial(ctxT(t, 5*time.Second), url, &websocket.DialOptions{
		HTTPClient: hc,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
}

// Wrong tokens slow down only the address that sends them: after the free
// failures it gets 429 with Retry-After — even with the right token — while
// another address still gets in, and the address itself does after the wait.
func TestTokenBackoffPerAddress(t *testing.T) {
	// A backoff long enough that the refused attempt below surely falls
	// within it on a loaded machine.
	const backoff = 3 * time.Second
	d := daemontest.Start(t, daemontest.Options{AuthBackoff: backoff})
	for i := range httpguard.DefaultAuthFailures + 1 {
		_, resp, err := dialFrom(t, "127.0.0.1", d.URL, "wrong")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %v (%v), want 401", i, resp, err)
		}
	}
	_, resp, err := dialFrom(t, "127.0.0.1", d.URL, daemontest.Token)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %v (%v), want 429", httpguard.DefaultAuthFailures+1, resp, err)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra > "3" {
		t.Errorf("Retry-After %q, want 1 to 3", ra)
	}
	c, _, err := dialFrom(t, "127.0.0.2", d.URL, daemontest.Token)
	if err != nil {
		t.Fatalf("another address is locked out too: %v", err)
	}
	if err := c.CloseNow(); err != nil {
		t.Fatal(err)
	}
	// Letting the backoff run out is the test: the address gets in after.
	time.Sleep(backoff + 100*time.Millisecond)
	c, _, err = dialFrom(t, "127.0.0.1", d.URL, daemontest.Token)
	if err != nil {
		t.Fatalf("right token after the backoff: %v", err)
	}
	if err := c.CloseNow(); err != nil {
		t.Fatal(err)
	}
	// The success forgot the failures: one wrong token is 401 again.
	_, resp, err = dialFrom(t, "127.0.0.1", d.URL, "wrong")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after a success: %v (%v), want 401", resp, err)
	}
}

// A too deeply nested request is answered with 101 and the connection stays
// usable; a message over the size limit closes the connection with 1009.
func TestMessageLimits(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ws, _, err := dialFrom(t, "127.0.0.1", d.URL, daemontest.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Closed already by the daemon, after the oversize message.
		if err := ws.CloseNow(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	}()
	ws.SetReadLimit(1 << 20)
	ctx := ctxT(t, 10*time.Second)
	roundTrip := func(frame string) api.Response {
		t.Helper()
		if err := ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var r api.Response
			if json.Unmarshal(data, &r) == nil && r.Result != nil || strings.Contains(string(data), `"error"`) {
				return r
			}
		}
	}
	n := apiserver.DefaultMaxDepth + 1
	deep := `{"id":"deep","method":"task.list","params":{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}}`
	if r := roundTrip(deep); r.Error != api.CodeInvalidRequest || !strings.Contains(r.Message, "nested") {
		t.Fatalf("deep request: %+v, want 101 nested", r)
	}
	if r := roundTrip(`{"id":"ok","method":"task.list"}`); r.Error != 0 || r.ID != "ok" {
		t.Fatalf("request after the deep one: %+v", r)
	}
	big := `{"id":"big","method":"task.add","params":{"type":"torrent","data":"` + strings.Repeat("A", apiserver.DefaultMaxMessageBytes) + `"}}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(big)); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if st := websocket.CloseStatus(err); st != websocket.StatusMessageTooBig {
			t.Fatalf("after an oversize message: %v (status %v), want close 1009", err, st)
		}
		break
	}
	// The daemon is fine.
	c := d.Client(t)
	if _, err := c.ListTasks(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

// No response ever carries CORS headers: a web page on another origin can
// neither read /healthz nor be invited to the API.
func TestNoCORSHeaders(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	base := "http://" + strings.TrimSuffix(strings.TrimPrefix(d.URL, "ws://"), "/ws")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/healthz"}, {"OPTIONS", "/ws"}, {"GET", "/ws"}, {"GET", "/ws?token=" + daemontest.Token},
	} {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		for k := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s %s: header %s: %q", tc.method, tc.path, k, resp.Header.Get(k))
			}
		}
	}
}
