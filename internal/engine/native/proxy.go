package native

import (
	"context"
	"fmt"
	"net"
	"net/url"
)

// TrackerProxy carries tracker announces through a proxy (a SOCKS5 one:
// internal/socks), which resolves the trackers' host names: none is
// looked up here, so no DNS query reveals which trackers we use.
type TrackerProxy interface {
	// DialContext connects to addr (host:port, the host possibly a name)
	// through the proxy, for HTTP(S) trackers.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// ListenPacketTo returns a socket whose datagrams all go to
	// host:port (the host possibly a name) through the proxy, whatever
	// address they are written to, for a UDP tracker.
	ListenPacketTo(ctx context.Context, host, port string) (net.PacketConn, error)
}

// proxiedUDPTracker returns the URL to give the tracker library for the
// tracker at rawURL, and the function that opens its UDP socket. Without
// a TrackerProxy, or for an HTTP tracker, that is rawURL and
// Config.TrackerListenPacket. With one, a UDP tracker's host is replaced
// by an address literal, so that the library (which resolves the host it
// is given before every send) looks nothing up, and its socket is a UDP
// association that sends to the real host name, resolved by the proxy.
func (c *Client) proxiedUDPTracker(rawURL string) (string, func(network, addr string) (net.PacketConn, error), error) {
	pol := c.policy()
	p := pol.TrackerProxy
	if p == nil {
		return rawURL, c.trackerListen(pol), nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "udp" {
		return rawURL, c.trackerListen(pol), nil
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		return "", nil, fmt.Errorf("native: tracker %s: no port", rawURL)
	}
	// A placeholder: the association sends to host whatever the
	// library writes to (see TrackerProxy.ListenPacketTo).
	placeholder := *u
	placeholder.Host = net.JoinHostPort("0.0.0.0", port)
	listen := func(string, string) (net.PacketConn, error) {
		return p.ListenPacketTo(c.ctx, host, port)
	}
	return placeholder.String(), listen, nil
}
