// Package httpguard decides which HTTP requests reach the daemon: the Host
// check (DNS rebinding), the Origin check (a foreign page), the token (or
// the web UI's session cookie, derived from it) or a live API key, and the
// backoff after wrong credentials, per address and for all addresses together. The
// WebSocket API, the file streams and the metrics share one Guard, so
// wrong tokens sent to any of them count against the same budgets. A
// refused request is answered with the API's refusal body (WriteError).
//
// The token is compared first, and a right one always passes: the token
// (at least 132 bits) is what protects the daemon, not the backoff, which
// makes guessing loud and cheap to refuse without ever locking the owner
// out because of someone else's failures. A credential that is not the
// token is then looked up as an API key (Config.Keys); one that is not a
// live key, revoked ones included, is a wrong credential like any other.
// An admitted request's Principal (the token, or which key with which
// scope) is what the endpoints authorise by (PrincipalFrom).
package httpguard

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/lodestone-bt/lodestone/api"
)

// Defaults of Config fields left zero. Each is documented with its HTTP
// status in docs/SECURITY.md.
const (
	// DefaultAuthFailures wrong tokens from one address are tolerated;
	// after that the address waits DefaultAuthBackoff before its next
	// attempt, doubling per further failure up to DefaultMaxAuthBackoff.
	DefaultAuthFailures   = 5
	DefaultAuthBackoff    = time.Second
	DefaultMaxAuthBackoff = 5 * time.Minute
	// DefaultGlobalAuthFailures wrong tokens a minute are counted from
	// all addresses together (all at once, then refilled evenly); beyond
	// that every wrong token is refused with 429 until the budget
	// refills. Rotating source addresses gains nothing over one address
	// and its free failures.
	DefaultGlobalAuthFailures = 60
)

// Config configures a Guard.
type Config struct {
	// Token must be presented by every request Check admits. Required.
	Token string
	// Hosts are extra host names accepted in the Host header besides
	// loopback names and IP literals (DNS-rebinding defence).
	Hosts []string
	// AuthFailures, AuthBackoff and MaxAuthBackoff shape the per-address
	// backoff after wrong tokens (HTTP 429 with Retry-After).
	AuthFailures   int
	AuthBackoff    time.Duration
	MaxAuthBackoff time.Duration
	// GlobalAuthFailures is the budget of wrong tokens a minute from all
	// addresses together (HTTP 429 with Retry-After once spent).
	GlobalAuthFailures int
	// Logger receives a warning per refused request, rate-limited
	// (logRefusal).
	Logger *slog.Logger
	// OnAdmit, if set, is called with every request Check admits (the
	// daemon marks its connection authenticated: connguard).
	OnAdmit func(*http.Request)
	// Keys, if set, are the API keys accepted beside the token.
	Keys Keys
}

// Guard checks HTTP requests. It is safe for concurrent use.
type Guard struct {
	secret     []byte
	session    string // the token's session cookie value (sessionValue)
	sessionKey []byte // the HMAC key of session cookie values
	keys       Keys   // Config.Keys; nil: the token only
	hosts      []string
	auth       *backoff
	log        *slog.Logger
	admit      func(*http.Request) // Config.OnAdmit

	logLimit *rate.Limiter // refusal log lines
	unlogged atomic.Int64  // refusals not logged since the last line
}

// Refusal log limits: a burst, then a steady rate per second.
const (
	refusalLogBurst = 20
	refusalLogRate  = 2
)

// New returns a Guard for cfg, or an error if cfg has no token.
func New(cfg Config) (*Guard, error) {
	if cfg.Token == "" {
		return nil, errors.New("httpguard: a token is required")
	}
	if cfg.AuthFailures <= 0 {
		cfg.AuthFailures = DefaultAuthFailures
	}
	if cfg.AuthBackoff <= 0 {
		cfg.AuthBackoff = DefaultAuthBackoff
	}
	if cfg.MaxAuthBackoff <= 0 {
		cfg.MaxAuthBackoff = DefaultMaxAuthBackoff
	}
	if cfg.GlobalAuthFailures <= 0 {
		cfg.GlobalAuthFailures = DefaultGlobalAuthFailures
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sessionKey, session, err := sessionValue(cfg.Token)
	if err != nil {
		return nil, err
	}
	return &Guard{
		secret:     []byte(cfg.Token),
		session:    session,
		sessionKey: sessionKey,
		keys:       cfg.Keys,
		hosts:      cfg.Hosts,
		auth:       newBackoff(cfg.AuthFailures, cfg.AuthBackoff, cfg.MaxAuthBackoff, cfg.GlobalAuthFailures),
		log:        cfg.Logger,
		admit:      cfg.OnAdmit,
		logLimit:   rate.NewLimiter(refusalLogRate, refusalLogBurst),
	}, nil
}

// Refusal says why a request is refused and how to answer it.
type Refusal struct {
	Status  int
	Code    api.Code
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

// Check is Authenticate without the Principal: for endpoints that any
// live credential may use.
func (g *Guard) Check(r *http.Request) *Refusal {
	_, ref := g.Authenticate(r)
	return ref
}

// Authenticate runs every gate in order (Host, Origin, the credential)
// and returns who r authenticated as, or the first refusal. A right token,
// a live API key or a live session cookie always passes, clears the count
// of r's address (ClientKey) and is passed to Config.OnAdmit. A request
// with no credential, or only a session cookie that is not this process's
// (or whose key was revoked), is refused with 401 without counting. A
// wrong token or key (a revoked key is a wrong one) is refused with 429
// while its address waits or the global budget is spent, else counted and
// refused with 401.
func (g *Guard) Authenticate(r *http.Request) (Principal, *Refusal) {
	if ref := g.CheckHost(r); ref != nil {
		return Principal{}, ref
	}
	if ref := g.checkOrigin(r); ref != nil {
		return Principal{}, ref
	}
	key := ClientKey(r.RemoteAddr)
	c, p := g.credential(r)
	switch c {
	case credRight:
		g.auth.succeeded(key)
		if g.admit != nil {
			g.admit(r)
		}
		return p, nil
	case credNone:
		// Not a guess: a foreign page's <img> of /files or /metrics
		// carries no credential, a browser may still hold a session
		// cookie of an earlier run, and another page of this host may
		// have planted a bogus one. Counting those would let anyone
		// push the owner's address into backoff.
		return Principal{}, &Refusal{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized, Message: "missing or wrong token"}
	}
	if wait, global := g.auth.failed(key); wait > 0 {
		msg := "too many wrong tokens from this address: retry later"
		if global {
			msg = "too many wrong tokens: retry later"
		}
		return Principal{}, &Refusal{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited, Message: msg, RetryAfter: wait}
	}
	return Principal{}, &Refusal{Status: http.StatusUnauthorized, Code: api.CodeUnauthorized, Message: "missing or wrong token"}
}

// checkOrigin refuses a request whose Origin header, when present, is not
// the host it was sent to.
func (g *Guard) checkOrigin(r *http.Request) *Refusal {
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
		return &Refusal{Status: http.StatusForbidden, Code: api.CodeUnauthorized, Message: "cross-origin WebSocket refused: " + origin}
	}
	return nil
}

// CheckHost runs the Host gate alone: it refuses a Host header that is
// neither a loopback name, an IP literal nor one of Config.Hosts.
func (g *Guard) CheckHost(r *http.Request) *Refusal {
	if g.hostAllowed(r.Host) {
		return nil
	}
	return &Refusal{Status: http.StatusForbidden, Code: api.CodeUnauthorized, Message: "host " + r.Host + " is not allowed"}
}

// Authorize wraps next with Authenticate: a refused request is answered
// by Refuse and never reaches next; an admitted one carries its Principal
// in its context (PrincipalFrom). Any live credential passes, whatever its
// scope: for endpoints that only read (/files, /metrics).
func (g *Guard) Authorize(next http.Handler) http.Handler {
	return g.AuthorizeScope(api.ScopeRead, next)
}

// RequireHost wraps next with CheckHost alone: for the web UI's static
// files, which hold no secret but should not be served to a page that
// reached the daemon by a rebound DNS name.
func (g *Guard) RequireHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := g.CheckHost(r); ref != nil {
			g.Refuse(w, r, ref)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Refuse logs the refusal of r and answers it: Retry-After in whole
// seconds (rounded up) when set, then WriteError.
func (g *Guard) Refuse(w http.ResponseWriter, r *http.Request, ref *Refusal) {
	g.logRefusal(r, ref)
	if ref.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ref.RetryAfter+time.Second-1)/time.Second)))
	}
	WriteError(w, ref.Status, ref.Code, ref.Message)
}

// maxLoggedInput caps what a refusal log quotes of the request.
const maxLoggedInput = 256

// logRefusal logs a refusal, at most refusalLogBurst at once and
// refusalLogRate a second after that: a stranger's flood of refused
// requests does not become a flood of log. Those not logged are counted,
// and the count is logged with the next line that is.
func (g *Guard) logRefusal(r *http.Request, ref *Refusal) {
	if !g.logLimit.Allow() {
		g.unlogged.Add(1)
		return
	}
	args := []any{"remote", r.RemoteAddr, "path", capInput(r.URL.Path), "reason", capInput(ref.Message)}
	if n := g.unlogged.Swap(0); n > 0 {
		args = append(args, "refusals_not_logged", n)
	}
	g.log.Warn("request refused", args...)
}

// capInput cuts s to maxLoggedInput bytes, marking the cut.
func capInput(s string) string {
	if len(s) <= maxLoggedInput {
		return s
	}
	return strings.ToValidUTF8(s[:maxLoggedInput], "") + "…(cut)"
}

// WriteError answers a plain HTTP request with status and the API's
// refusal body: a Response with code and msg and a null result. Every
// HTTP endpoint of the daemon answers its errors with it.
func WriteError(w http.ResponseWriter, status int, code api.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Response{Error: code, Message: msg, Result: json.RawMessage("null")})
}

// cred is what credential a request presents and whether it is right.
type cred int

const (
	credNone  cred = iota // none, or only session cookies not of this process
	credWrong             // a token or key, wrong (or revoked)
	credRight             // the token, a live key, or a live session cookie
)

// credential judges the credential r presents: "Authorization: Bearer
// <token or key>", else "?token=<token or key>", else the session cookie
// (either name; any of several passes, so a cookie planted by another page
// of this host cannot shadow the right one). The token is compared first,
// in constant time; anything else is looked up as an API key.
func (g *Guard) credential(r *http.Request) (cred, Principal) {
	got := r.URL.Query().Get("token")
	bearer := false
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got, bearer = strings.TrimSpace(tok), true
	}
	if got != "" {
		if subtle.ConstantTimeCompare([]byte(got), g.secret) == 1 {
			return credRight, tokenPrincipal
		}
		if g.keys != nil {
			if id, scope, revoked, ok := g.keys.Authenticate(got); ok {
				return credRight, Principal{ID: id, Scope: scope, revoked: revoked}
			}
		}
		return credWrong, Principal{}
	}
	if !bearer {
		if p, ok := g.sessionPrincipal(r); ok {
			return credRight, p
		}
	}
	return credNone, Principal{}
}

// hostAllowed accepts loopback names, IP literals and configured names, so
// a DNS name rebound to 127.0.0.1 by a web page is refused.
func (g *Guard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return true
	}
	for _, h := range g.hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether an Origin header names the host being
// connected to (any scheme). "null" and unparsable origins are foreign.
func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	rest, _, _ = strings.Cut(rest, "/")
	return strings.EqualFold(rest, host)
}
