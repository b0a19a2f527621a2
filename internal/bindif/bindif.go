// Package bindif ties sockets to one network interface and watches that
// interface: the kill switch of `serve --bind-interface` (issue 18).
//
// Control binds a socket to the device itself (SO_BINDTODEVICE on Linux)
// before it is bound or connected, so the routing table cannot send its
// packets out of another interface: when the interface is down or has
// no address, the socket's sends fail instead of finding another route.
// Watch reports the interface going down and coming back; the kernel,
// not the watcher, is what keeps packets in, so a second's delay in
// noticing costs nothing but the delay of the alert.
package bindif

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// ErrUnsupported is returned where binding a socket to a device is not
// available (every system but Linux).
var ErrUnsupported = errors.New("binding to a network interface is only supported on Linux")

// ControlFunc is the signature of net.Dialer.Control and
// net.ListenConfig.Control.
type ControlFunc = func(network, address string, c syscall.RawConn) error

// Control returns a ControlFunc that binds each socket to the interface
// named name; ErrUnsupported on systems without SO_BINDTODEVICE.
func Control(name string) (ControlFunc, error) {
	if name == "" {
		return nil, errors.New("bindif: no interface name")
	}
	if !supported {
		return nil, ErrUnsupported
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = bindToDevice(fd, name) }); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("bind socket to interface %s: %w", name, serr)
		}
		return nil
	}, nil
}

// Chain returns a ControlFunc running each non-nil fn in turn, stopping
// at the first error; nil when there is none.
func Chain(fns ...ControlFunc) ControlFunc {
	fns = slices.DeleteFunc(fns, func(f ControlFunc) bool { return f == nil })
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]
	}
	return func(network, address string, c syscall.RawConn) error {
		for _, f := range fns {
			if err := f(network, address, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// State is what Watch sees of an interface.
type State struct {
	// Up: the interface exists, is administratively up, and has at least
	// one address that is not link-local.
	Up bool
	// Addrs are its addresses (link-local ones left out).
	Addrs []netip.Addr
	// Reason says why it is not up ("" when up).
	Reason string
	// Index is the interface's index, 0 when it does not exist. A socket
	// is bound to the index: an interface deleted and created again under
	// the same name (wg-quick down/up) has another one.
	Index int
}

// Equal reports whether s and o are the same state.
func (s State) Equal(o State) bool {
	return s.Up == o.Up && s.Reason == o.Reason && s.Index == o.Index && slices.Equal(s.Addrs, o.Addrs)
}

// Look reads the state of the interface named name now.
func Look(name string) State {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return State{Reason: fmt.Sprintf("interface %s not found", name)}
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return State{Reason: fmt.Sprintf("interface %s: %v", name, err), Index: ifi.Index}
	}
	st := State{Index: ifi.Index}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && !p.Addr().IsLinkLocalUnicast() {
			st.Addrs = append(st.Addrs, p.Addr().Unmap())
		}
	}
	slices.SortFunc(st.Addrs, netip.Addr.Compare)
	switch {
	case ifi.Flags&net.FlagUp == 0:
		st.Reason = fmt.Sprintf("interface %s is down", name)
	case len(st.Addrs) == 0:
		st.Reason = fmt.Sprintf("interface %s has no address", name)
	default:
		st.Up = true
	}
	return st
}

// PollInterval is how often Watch looks at the interface.
const PollInterval = time.Second

// Watch calls onChange with the interface's state at once, then each
// time it changes (up or down, or another set of addresses), until ctx
// ends. It polls every interval (PollInterval when 0): polling needs no
// netlink subscription (no dependency, nothing to resynchronise after a
// lost message) and works on any system Go runs on; the kernel keeps the
// packets in meanwhile (see Control), so polling only delays the alert.
func Watch(ctx context.Context, name string, interval time.Duration, onChange func(State)) {
	if interval <= 0 {
		interval = PollInterval
	}
	last := Look(name)
	onChange(last)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if st := Look(name); !st.Equal(last) {
			last = st
			onChange(st)
		}
	}
}
