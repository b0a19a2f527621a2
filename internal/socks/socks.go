// Package socks reaches the network through a SOCKS5 proxy (RFC 1928):
// TCP streams with CONNECT (golang.org/x/net/proxy), and UDP datagrams
// with UDP ASSOCIATE (udp.go, written here: x/net speaks only CONNECT).
// Host names are handed to the proxy unresolved (socks5h semantics), so
// no DNS query leaves this machine for a proxied destination.
//
// A Proxy never falls back to a direct connection: when the proxy cannot
// be reached, the dial fails with an error that unwraps to
// *UnreachableError.
package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/net/proxy"
)

// Proxy is a SOCKS5 proxy's address and credentials. Its String never
// shows the password. It is safe for concurrent use.
type Proxy struct {
	addr       string // host:port of the proxy
	user, pass string // empty user: no authentication offered
	dialer     proxy.ContextDialer
	// forward dials the proxy itself.
	forward *net.Dialer
	// control runs on every socket to the proxy, TCP and the UDP relay's
	// (nil: none); local is their source address (invalid: any). Set by
	// Bind.
	control func(network, address string, c syscall.RawConn) error
	local   netip.Addr
}

// UnreachableError is a failure to reach the proxy itself (as opposed to
// the proxy failing to reach a destination).
type UnreachableError struct {
	Proxy string // host:port, without credentials
	Err   error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("socks: proxy %s unreachable: %v", e.Proxy, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Parse reads a proxy URL: socks5://[user:pass@]host:port (socks5h is
// accepted as the same thing: names are always resolved by the proxy).
func Parse(raw string) (*Proxy, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the input, password included.
		return nil, errors.New("socks: proxy: not a URL")
	}
	if u.Scheme != "socks5" && u.Scheme != "socks5h" {
		return nil, fmt.Errorf("socks: proxy: scheme %q: only socks5 is supported", u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("socks: proxy: the URL must be socks5://[user:pass@]host:port")
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || port == "" {
		return nil, errors.New("socks: proxy: host and port required")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("socks: proxy: bad port %q", port)
	}
	p := &Proxy{addr: net.JoinHostPort(host, port), forward: &net.Dialer{Timeout: 15 * time.Second}}
	if u.User != nil {
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
		if len(p.user) == 0 || len(p.user) > 255 || len(p.pass) > 255 {
			return nil, errors.New("socks: proxy: user name and password must be 1 and 0 to 255 bytes")
		}
	}
	var auth *proxy.Auth
	if p.user != "" {
		auth = &proxy.Auth{User: p.user, Password: p.pass}
	}
	d, err := proxy.SOCKS5("tcp", p.addr, auth, forwardDialer{p})
	if err != nil {
		return nil, fmt.Errorf("socks: %w", err)
	}
	p.dialer = d.(proxy.ContextDialer)
	return p, nil
}

// Bind ties every socket to the proxy, the TCP connections (CONNECT and
// UDP ASSOCIATE's control connection) and the UDP socket that talks to
// the relay: control runs on each before it is bound or connected (to
// bind it to a device: bindif.Control), and local, when valid, is its
// source address. It must be called before the Proxy is used.
func (p *Proxy) Bind(control func(network, address string, c syscall.RawConn) error, local netip.Addr) {
	p.control, p.local = control, local
	p.forward.Control = control
	if local.IsValid() {
		p.forward.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
}

// String is the proxy's URL with the password left out.
func (p *Proxy) String() string {
	if p.user == "" {
		return "socks5://" + p.addr
	}
	return "socks5://" + url.User(p.user).String() + ":***@" + p.addr
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// DialContext connects to addr (host:port; a host name is resolved by the
// proxy) through the proxy. network must be "tcp", "tcp4" or "tcp6".
func (p *Proxy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("socks: network %q cannot go through the proxy", network)
	}
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("socks: connect to %s: %w", addr, err)
	}
	return c, nil
}

// forwardDialer dials the proxy itself, marking its failures.
type forwardDialer struct{ p *Proxy }

func (f forwardDialer) Dial(network, addr string) (net.Conn, error) {
	return f.DialContext(context.Background(), network, addr)
}

func (f forwardDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := f.p.forward.DialContext(ctx, network, addr)
	if err != nil && ctx.Err() == nil {
		return nil, &UnreachableError{Proxy: f.p.addr, Err: err}
	}
	return c, err
}
