package httpguard

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

const token = "s3cret/+ token"

// serve runs h on a loopback test server and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newGuard(t *testing.T, cfg Config) *Guard {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

var passed = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "passed") })

type answer struct {
	status     int
	body       string
	retryAfter string
}

// do sends a GET to base+path, edited by edit, and returns the answer.
func do(t *testing.T, base, path string, edit func(*http.Request)) answer {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("refusal with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return answer{resp.StatusCode, string(body), resp.Header.Get("Retry-After")}
}

// The refusal bodies are the wire's: they are pinned here byte for byte.
func TestAuthorize(t *testing.T) {
	g := newGuard(t, Config{Hosts: []string{"nas.home.arpa"}})
	session := g.session
	base := serve(t, g.Authorize(passed))
	q := "/?token=" + url.QueryEscape(token)
	ok := answer{status: 200, body: "passed"}
	for _, tc := range []struct {
		name string
		path string
		edit func(*http.Request)
		want answer
	}{
		{"query token", q, nil, ok},
		{"bearer token", "/", func(r *http.Request) { r.Header.Set("Authorization", "bearer "+token) }, ok},
		{"session cookie", "/", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "planted by another page"})
			r.AddCookie(&http.Cookie{Name: SessionCookie, Value: session})
		}, ok},
		{"old token cookie", "/", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: "lodestone_token", Value: url.QueryEscape(token)})
		}, answer{status: 401,
			body: `{"id":"","error":401,"message":"missing or wrong token","result":null}` + "\n"}},
		{"same origin", q, func(r *http.Request) { r.Header.Set("Origin", "http://"+r.URL.Host) }, ok},
		{"configured host", q, func(r *http.Request) { r.Host = "NAS.home.arpa:6810" }, ok},
		{"no token", "/", nil, answer{status: 401,
			body: `{"id":"","error":401,"message":"missing or wrong token","result":null}` + "\n"}},
		{"wrong token", "/?token=guess", nil, answer{status: 401,
			body: `{"id":"","error":401,"message":"missing or wrong token","result":null}` + "\n"}},
		{"bearer beats query", q, func(r *http.Request) { r.Header.Set("Authorization", "Bearer guess") }, answer{status: 401,
			body: `{"id":"","error":401,"message":"missing or wrong token","result":null}` + "\n"}},
		{"rebound host", q, func(r *http.Request) { r.Host = "evil.example:80" }, answer{status: 403,
			body: `{"id":"","error":401,"message":"host evil.example:80 is not allowed","result":null}` + "\n"}},
		{"foreign origin", q, func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, answer{status: 403,
			body: `{"id":"","error":401,"message":"cross-origin WebSocket refused: http://evil.example","result":null}` + "\n"}},
		{"null origin", q, func(r *http.Request) { r.Header.Set("Origin", "null") }, answer{status: 403,
			body: `{"id":"","error":401,"message":"cross-origin WebSocket refused: null","result":null}` + "\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(t, base, tc.path, tc.edit); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// After AuthFailures wrong tokens an address's wrong tokens are refused
// with 429 for a while, doubling per further failure; the right token
// still passes and clears the count (issue 15, item 7).
func TestAuthorizeBacksOff(t *testing.T) {
	g := newGuard(t, Config{AuthFailures: 2, AuthBackoff: 1500 * time.Millisecond})
	now := time.Unix(1000, 0)
	g.auth.now = func() time.Time { return now }
	base := serve(t, g.Authorize(passed))
	right := "/?token=" + url.QueryEscape(token)
	for i := range 3 {
		if got := do(t, base, "/?token=guess", nil); got.status != 401 {
			t.Fatalf("wrong token %d: %+v, want 401", i+1, got)
		}
	}
	limited := answer{status: 429, retryAfter: "2", // 1.5 s, rounded up
		body: `{"id":"","error":429,"message":"too many wrong tokens from this address: retry later","result":null}` + "\n"}
	if got := do(t, base, "/?token=guess", nil); got != limited {
		t.Fatalf("wrong token during the backoff: %+v, want %+v", got, limited)
	}
	if got := do(t, base, right, nil); got.status != 200 {
		t.Fatalf("right token during the backoff: %+v, want 200", got)
	}
	// The success cleared the count: two free failures again, then the
	// third starts a wait.
	for i := range 3 {
		if got := do(t, base, "/?token=guess", nil); got.status != 401 {
			t.Fatalf("wrong token %d after a success: %+v, want 401", i+1, got)
		}
	}
	// A refused attempt did not count: the wait is over after 1.5 s, and
	// the next failure doubles it.
	if got := do(t, base, "/?token=guess", nil); got.status != 429 {
		t.Fatalf("wrong token during the backoff: %+v, want 429", got)
	}
	now = now.Add(1500 * time.Millisecond)
	if got := do(t, base, "/?token=guess", nil); got.status != 401 {
		t.Fatalf("wrong token after the wait: %+v, want 401", got)
	}
	if got := do(t, base, "/?token=guess", nil); got.status != 429 || got.retryAfter != "3" {
		t.Fatalf("after a 4th failure: %+v, want 429 with Retry-After 3 (doubled)", got)
	}
}

// clientFrom returns a client whose connections come from the loopback
// address src (any of 127.0.0.0/8 works on Linux's lo).
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// getFrom sends a GET of base+path from src and returns the status and
// the Retry-After and body of the answer.
func getFrom(t *testing.T, src, base, path string) answer {
	t.Helper()
	resp, err := clientFrom(src).Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, string(body), resp.Header.Get("Retry-After")}
}

// The right token is never refused because of other clients' failures:
// not those of its own address (a foreign page in the owner's browser
// shares it), nor those of many addresses that spent the global budget
// (issue 15, items 7 and 11).
func TestOthersFailuresNeverRefuseTheRightToken(t *testing.T) {
	g := newGuard(t, Config{MaxAuthBackoff: time.Hour})
	now := time.Unix(1000, 0)
	g.auth.now = func() time.Time { return now }
	base := serve(t, g.Authorize(passed))
	right := "/?token=" + url.QueryEscape(token)
	for range 20 {
		getFrom(t, "127.0.0.1", base, "/?token=guess")
	}
	if got := getFrom(t, "127.0.0.1", base, "/?token=guess"); got.status != 429 {
		t.Fatalf("a wrong token after 20: %+v, want 429", got)
	}
	if got := getFrom(t, "127.0.0.1", base, right); got.status != 200 {
		t.Fatalf("the right token from an address in backoff: %+v, want 200", got)
	}
	for i := range 2 * DefaultGlobalAuthFailures {
		getFrom(t, fmt.Sprintf("127.0.%d.%d", 1+i/250, 1+i%250), base, "/?token=guess")
	}
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.99.99"} {
		if got := getFrom(t, src, base, right); got.status != 200 {
			t.Fatalf("the right token from %s with the global budget spent: %+v, want 200", src, got)
		}
	}
}

// Rotating the source address across 127.0.0.0/8 does not dodge the
// backoff: all addresses together have DefaultGlobalAuthFailures wrong
// tokens a minute, then get 429 until the budget refills (issue 15, item
// 11).
func TestGlobalFailureBudget(t *testing.T) {
	g := newGuard(t, Config{})
	now := time.Unix(1000, 0)
	g.auth.now = func() time.Time { return now }
	base := serve(t, g.Authorize(passed))
	limited := answer{status: 429, retryAfter: "1",
		body: `{"id":"","error":429,"message":"too many wrong tokens: retry later","result":null}` + "\n"}
	src := func(i int) string { return fmt.Sprintf("127.%d.%d.%d", 1+i/62500, 1+i/250%250, 1+i%250) }
	i := 0
	for ; i < 1000; i++ {
		got := getFrom(t, src(i), base, "/?token=guess")
		if got.status == 429 {
			if got != limited {
				t.Fatalf("guess %d: %+v, want %+v", i+1, got, limited)
			}
			break
		}
		if got.status != 401 {
			t.Fatalf("guess %d: %+v, want 401", i+1, got)
		}
	}
	if i != DefaultGlobalAuthFailures {
		t.Fatalf("%d wrong tokens from as many addresses were counted before a 429, want %d", i, DefaultGlobalAuthFailures)
	}
	// The budget refills at its rate: one more guess a second.
	now = now.Add(time.Second)
	if got := getFrom(t, src(i+1), base, "/?token=guess"); got.status != 401 {
		t.Fatalf("a guess a second later: %+v, want 401", got)
	}
	if got := getFrom(t, src(i+2), base, "/?token=guess"); got.status != 429 {
		t.Fatalf("the next guess: %+v, want 429", got)
	}
}

// RequireHost checks the Host alone: no token is needed.
func TestRequireHost(t *testing.T) {
	base := serve(t, newGuard(t, Config{}).RequireHost(passed))
	if got := do(t, base, "/", nil); got.status != 200 {
		t.Errorf("loopback without token: %+v, want 200", got)
	}
	got := do(t, base, "/", func(r *http.Request) { r.Host = "localhost.evil.com" })
	want := answer{status: 403, body: `{"id":"","error":401,"message":"host localhost.evil.com is not allowed","result":null}` + "\n"}
	if got != want {
		t.Errorf("rebound host: %+v, want %+v", got, want)
	}
}

func TestNewNeedsToken(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a token succeeded")
	}
}

func TestHostAllowed(t *testing.T) {
	g := newGuard(t, Config{Hosts: []string{"nas.home.arpa"}})
	for host, want := range map[string]bool{
		"127.0.0.1:6810":       true,
		"[::1]:6810":           true,
		"localhost:6810":       true,
		"LOCALHOST.":           true,
		"app.localhost:1":      true,
		"192.168.1.5:6810":     true,
		"nas.home.arpa:6810":   true,
		"evil.example:6810":    false,
		"localhost.evil.com:1": false,
		"":                     false,
		"127.0.0.1.nip.io:80":  false,
	} {
		if got := g.hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:6810", "127.0.0.1:6810", true},
		{"https://LOCALHOST:6810", "localhost:6810", true},
		{"http://127.0.0.1:6811", "127.0.0.1:6810", false},
		{"http://evil.example", "127.0.0.1:6810", false},
		{"null", "127.0.0.1:6810", false},
		{"127.0.0.1:6810", "127.0.0.1:6810", false},
	} {
		if got := sameOrigin(tc.origin, tc.host); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
}

// A request with no credential is refused but is not a wrong guess: a
// foreign web page firing token-less requests at /files or /metrics
// cannot lock the owner out (issue 15, item 7).
func TestNoCredentialIsNotAGuess(t *testing.T) {
	g := newGuard(t, Config{AuthFailures: 2})
	base := serve(t, g.Authorize(passed))
	for i := range 20 {
		if got := do(t, base, "/metrics", nil); got.status != 401 {
			t.Fatalf("request %d without a token: %+v, want 401", i+1, got)
		}
	}
	right := "/?token=" + url.QueryEscape(token)
	if got := do(t, base, right, nil); got.status != 200 {
		t.Fatalf("the owner's token after 20 token-less requests: %+v, want 200", got)
	}
	// Wrong tokens still count.
	for range 3 {
		do(t, base, "/?token=guess", nil)
	}
	if got := do(t, base, "/?token=guess", nil); got.status != 429 {
		t.Fatalf("a wrong token after 3 wrong ones: %+v, want 429", got)
	}
}

// recorder is a slog.Handler keeping the records it gets.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// A flood of refused requests is not a flood of log lines, and a line
// quotes at most 256 bytes of the request (issue 15, item 10).
func TestRefusalLogIsLimited(t *testing.T) {
	rec := &recorder{}
	g := newGuard(t, Config{Logger: slog.New(rec)})
	base := serve(t, g.Authorize(passed))
	long := "/" + strings.Repeat("x", 60<<10)
	const flood = 300
	start := time.Now()
	for range flood {
		do(t, base, long, nil)
	}
	// The limiter refills refusalLogRate lines a second: on a loaded
	// machine the flood takes seconds, and those lines are allowed too.
	allowed := refusalLogBurst + int(time.Since(start).Seconds()*refusalLogRate) + 1
	logged := rec.records()
	if len(logged) < refusalLogBurst || len(logged) > allowed || len(logged) >= flood/2 {
		t.Errorf("%d refusals in %v logged %d lines, want %d to %d (the burst and the rate)", flood, time.Since(start).Round(time.Millisecond), len(logged), refusalLogBurst, allowed)
	}
	for _, r := range logged {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "path" && len(a.Value.String()) > maxLoggedInput+16 {
				t.Errorf("a refusal log quotes %d bytes of the path", len(a.Value.String()))
			}
			return true
		})
	}
	// Every refusal is accounted for: logged, or counted on the next line
	// that is.
	g.logLimit = rate.NewLimiter(rate.Inf, 1)
	do(t, base, "/", nil)
	all := rec.records()
	var unlogged int64
	for _, r := range all {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "refusals_not_logged" {
				unlogged += a.Value.Int64()
			}
			return true
		})
	}
	if got := int64(len(all)) + unlogged; got != flood+1 {
		t.Errorf("%d lines and %d refusals counted as not logged make %d, want %d", len(all), unlogged, got, flood+1)
	}
}
