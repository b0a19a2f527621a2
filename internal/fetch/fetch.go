// Package fetch downloads .torrent files from http(s) URLs for task.add
// type "url", defensively: a size cap, a timeout, few redirects, and no
// connection to loopback, private, link-local or otherwise internal
// addresses (SSRF) unless allowed. The address is checked on the socket
// actually dialled, after DNS, so a name that resolves to 127.0.0.1 is
// refused too — except through a proxy (Options.Dial), where names are
// the proxy's to resolve and only address literals are checked.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/lodestone-bt/lodestone/internal/netguard"
)

// ErrFetch wraps every failure to fetch.
var ErrFetch = errors.New("fetch failed")

// ErrForbiddenAddress is returned for a URL that leads to an internal
// address.
var ErrForbiddenAddress = netguard.ErrForbidden

// Defaults for Options fields left zero.
const (
	DefaultMaxBytes = 10 << 20
	DefaultTimeout  = 30 * time.Second
	maxRedirects    = 5
)

// Options configure a Fetcher.
type Options struct {
	// MaxBytes caps the body.
	MaxBytes int64
	// Timeout bounds the whole fetch.
	Timeout time.Duration
	// AllowPrivate permits loopback and private addresses (for a tracker
	// site on the LAN, or tests).
	AllowPrivate bool
	// UserAgent is sent with each request.
	UserAgent string
	// Dial, if set, makes every connection instead of a direct dial: a
	// SOCKS5 proxy's (serve --proxy, proxy-only), which resolves host
	// names itself. The SSRF check then refuses only non-public address
	// literals (netguard.ViaProxy): the socket dialled is the proxy's.
	Dial netguard.DialFunc
}

// Fetcher fetches URLs. It is safe for concurrent use.
type Fetcher struct {
	opts   Options
	client *http.Client
}

// New returns a Fetcher.
func New(opts Options) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = netguard.Control
	}
	dial := netguard.DialFunc(dialer.DialContext)
	if opts.Dial != nil {
		dial = opts.Dial
		if !opts.AllowPrivate {
			dial = netguard.ViaProxy(opts.Dial)
		}
	}
	tr := &http.Transport{
		DialContext:           dial,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		// No proxy from the environment: its address would bypass the
		// check above.
		Proxy: nil,
	}
	return &Fetcher{opts: opts, client: &http.Client{
		Transport: tr,
		Timeout:   opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s: URL", req.URL.Scheme)
			}
			return nil
		},
	}}
}

// CheckURL accepts absolute http and https URLs with a host.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("URL %q: no host", raw)
	}
	return u, nil
}

// Get fetches raw (http or https) and returns the body. Errors wrap
// ErrFetch (and ErrForbiddenAddress where that is why).
func (f *Fetcher) Get(ctx context.Context, raw string) ([]byte, error) {
	u, err := CheckURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	if f.opts.UserAgent != "" {
		req.Header.Set("User-Agent", f.opts.UserAgent)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %s", ErrFetch, u.Host, resp.Status)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes is more than the limit of %d", ErrFetch, resp.ContentLength, f.opts.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrFetch, u.Host, err)
	}
	if int64(len(body)) > f.opts.MaxBytes {
		return nil, fmt.Errorf("%w: more than the limit of %d bytes", ErrFetch, f.opts.MaxBytes)
	}
	return body, nil
}
