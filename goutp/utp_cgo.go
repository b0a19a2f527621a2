//go:build cgo

package utp

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	libutp "github.com/anacrolix/go-libutp"
	analog "github.com/anacrolix/log"
)

// NewSocket listens on the UDP address addr ("udp", "udp4" or "udp6") and returns a uTP Socket
// serving it. Errors wrap the underlying listen error, so errors.Is works on errnos such as
// EADDRNOTAVAIL (the engine relies on that to skip unusable address families).
func NewSocket(network, addr string, opts ...Option) (Socket, error) {
	s, err := libutp.NewSocket(network, addr, libutpOptions(opts)...)
	if err != nil {
		// A nil interface, not a typed nil: the engine checks s == nil.
		return nil, fmt.Errorf("listening for uTP on %s %s: %w", network, addr, err)
	}
	return socket{s}, nil
}

// NewSocketFromPacketConn returns a uTP Socket serving the already-open pc. The Socket takes
// ownership of pc: closing the Socket closes pc.
func NewSocketFromPacketConn(pc net.PacketConn, opts ...Option) (Socket, error) {
	s, err := libutp.NewSocketFromPacketConn(pc, libutpOptions(opts)...)
	if err != nil {
		return nil, fmt.Errorf("creating uTP socket on %v: %w", pc.LocalAddr(), err)
	}
	return socket{s}, nil
}

// socket adapts *libutp.Socket to Socket. Everything but SetFirewallCallback is promoted as is;
// that one only converts between the two identical FirewallCallback func types.
type socket struct {
	*libutp.Socket
}

var _ Socket = socket{}

func (s socket) SetFirewallCallback(f FirewallCallback) {
	s.Socket.SetFirewallCallback(libutp.FirewallCallback(f))
}

func libutpOptions(opts []Option) (ret []libutp.NewSocketOpt) {
	o := buildOptions(opts)
	if o.logger != nil {
		ret = append(ret, libutp.WithLogger(analogFromSlog(o.logger.Handler())))
	}
	return
}

// analogFromSlog builds the anacrolix/log Logger go-libutp wants from a slog.Handler, using
// anacrolix/log's SlogHandlerAsHandler.
//
// Two traps in that adapter are handled here. go-libutp logs with Printf, which carries no level,
// and SlogHandlerAsHandler panics on a record without one, so a default level is set: Warning,
// because the unconditional go-libutp messages are socket read/send errors, and the default
// go-libutp logger prints them regardless of filter level. SlogHandlerAsHandler also panics if the
// slog.Handler returns an error, so the handler is wrapped to drop such errors: a failing log
// sink must not crash the daemon.
func analogFromSlog(h slog.Handler) analog.Logger {
	l := analog.NewLogger("go-libutp")
	// The zero filter level lets everything through to the slog.Handler, whose Enabled decides.
	l.SetHandlers(analog.SlogHandlerAsHandler{SlogHandler: errorDroppingHandler{h}})
	return l.WithDefaultLevel(analog.Warning)
}

// errorDroppingHandler is a slog.Handler whose Handle never fails.
type errorDroppingHandler struct {
	slog.Handler
}

func (h errorDroppingHandler) Handle(ctx context.Context, r slog.Record) error {
	_ = h.Handler.Handle(ctx, r)
	return nil
}

func (h errorDroppingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return errorDroppingHandler{h.Handler.WithAttrs(attrs)}
}

func (h errorDroppingHandler) WithGroup(name string) slog.Handler {
	return errorDroppingHandler{h.Handler.WithGroup(name)}
}
