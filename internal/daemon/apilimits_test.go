package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Wrong tokens slow down only the wrong tokens of the address that sends
// them: after the free failures its wrong tokens get 429 with
// Retry-After, while its right token still gets in (the owner's browser
// shares its address with any page that guesses: issue 15, item 7), and
// another address's wrong tokens are still judged.
func TestTokenBackoffPerAddress(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AuthBackoff: time.Minute})
	for i := range httpguard.DefaultAuthFailures + 1 {
		_, resp, err := dialFrom(t, "127.0.0.1", d.URL, "wrong")
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %v (%v), want 401", i, resp, err)
		}
	}
	_, resp, err := dialFrom(t, "127.0.0.1", d.URL, "wrong")
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %v (%v), want 429", httpguard.DefaultAuthFailures+1, resp, err)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || len(ra) > 2 || ra > "60" {
		t.Errorf("Retry-After %q, want 1 to 60", ra)
	}
	_, resp, err = dialFrom(t, "127.0.0.2", d.URL, "wrong")
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another address's wrong token: %v (%v), want 401", resp, err)
	}
	c, _, err := dialFrom(t, "127.0.0.1", d.URL, daemontest.Token)
	if err != nil {
		t.Fatalf("the right token from the address in backoff: %v", err)
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

// Rotating the source address across 127.0.0.0/8 (one guess per address,
// always within the free failures) hits the global budget and gets 429;
// the right token still gets in from any address (issue 15, item 11).
func TestTokenBudgetAcrossAddresses(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	limited := false
	for i := 0; i < 10*httpguard.DefaultGlobalAuthFailures && !limited; i++ {
		_, resp, err := dialFrom(t, fmt.Sprintf("127.1.%d.%d", i/250, 1+i%250), d.URL, "wrong")
		if err == nil || resp == nil {
			t.Fatalf("wrong token %d: %v (%v), want a refusal", i+1, resp, err)
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited = true
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Fatalf("wrong token %d: %v, want 401 or 429", i+1, resp)
		}
	}
	if !limited {
		t.Fatalf("%d wrong tokens from as many addresses, and no 429", 10*httpguard.DefaultGlobalAuthFailures)
	}
	for _, src := range []string{"127.0.0.1", "127.1.255.1"} {
		c, _, err := dialFrom(t, src, d.URL, daemontest.Token)
		if err != nil {
			t.Fatalf("the right token from %s with the budget spent: %v", src, err)
		}
		if err := c.CloseNow(); err != nil {
			t.Fatal(err)
		}
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
	ctx := ctxT(t, time.Minute) // an oversize frame under -race on a loaded machine takes seconds to write
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
