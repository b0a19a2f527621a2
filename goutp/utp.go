package utp

import (
	"context"
	"log/slog"
	"net"
)

// Default names the uTP implementation behind this package. The engine prints it in errors, e.g.
// "creating libutp socket: ...".
const Default = "libutp"

// Socket is a uTP socket: a net.PacketConn that also accepts and dials uTP connections over the
// same UDP port. Packets that are not uTP can be read from it with ReadFrom.
type Socket interface {
	net.PacketConn
	// Accept waits for the next inbound uTP connection, like net.Listener.Accept. It fails once
	// the Socket is closed.
	Accept() (net.Conn, error)
	// Addr is the local address, like net.Listener.Addr.
	Addr() net.Addr
	// DialContext opens a uTP connection to addr. An empty network means the Socket's own.
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// SetFirewallCallback sets the callback consulted for inbound connection attempts. A nil
	// callback accepts everything.
	SetFirewallCallback(FirewallCallback)
}

// FirewallCallback reports whether an inbound connection attempt from the given address should be
// refused. Refused attempts are dropped silently: no acknowledgement is sent, so the remote dial
// times out.
type FirewallCallback func(net.Addr) bool

// Option configures a Socket at construction.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

func buildOptions(opts []Option) (o options) {
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return
}

// WithLogger sends the Socket's diagnostics to l. A nil l keeps the implementation's default
// logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		o.logger = l
	}
}
