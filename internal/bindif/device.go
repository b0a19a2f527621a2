package bindif

import (
	"fmt"
	"sync"
	"syscall"
)

// Device binds sockets to the interface named name, as Control does, and
// keeps them, so that they can be bound again to a new interface of that
// name (Rebind): a socket is bound to an interface's index, and an
// interface deleted and created again under the same name (wg-quick
// down/up, OpenVPN without persist-tun) has another one, which the
// sockets bound to the old would never see. Safe for concurrent use.
type Device struct {
	name    string
	control ControlFunc

	mu sync.Mutex
	// socks are the sockets bound so far. A closed one's RawConn
	// refuses Control (it never reaches the descriptor number again, so
	// a reused number is safe); sweeps drop them.
	socks []syscall.RawConn
	// sweepAt is the length of socks that triggers the next sweep.
	sweepAt int
}

// minSweep is the fewest sockets kept before the first sweep.
const minSweep = 64

// NewDevice returns the Device of the interface named name;
// ErrUnsupported on systems without SO_BINDTODEVICE.
func NewDevice(name string) (*Device, error) {
	ctl, err := Control(name)
	if err != nil {
		return nil, err
	}
	return &Device{name: name, control: ctl, sweepAt: minSweep}, nil
}

// Name is the interface's name.
func (d *Device) Name() string { return d.name }

// Control binds a socket to the interface and keeps it for Rebind. It
// is a ControlFunc (net.Dialer.Control, net.ListenConfig.Control).
func (d *Device) Control(network, address string, c syscall.RawConn) error {
	if err := d.control(network, address, c); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.socks = append(d.socks, c)
	if len(d.socks) >= d.sweepAt {
		// Outgoing connections come and go: drop the closed ones, at a
		// cost paid once per doubling.
		d.sweepLocked()
		d.sweepAt = max(minSweep, 2*len(d.socks))
	}
	return nil
}

// sweepLocked drops the closed sockets. Called with mu held.
func (d *Device) sweepLocked() {
	live := d.socks[:0]
	for _, c := range d.socks {
		if c.Control(func(uintptr) {}) == nil {
			live = append(live, c)
		}
	}
	clear(d.socks[len(live):])
	d.socks = live
}

// Rebind binds every open socket bound so far to the interface now named
// name, and returns how many it bound. Linux lets a socket already bound
// to a device be bound again only with CAP_NET_RAW: without it the error
// is EPERM, and the sockets stay bound to the old interface (nothing
// leaks: the old one is gone).
func (d *Device) Rebind() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweepLocked()
	n := 0
	for _, c := range d.socks {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = bindToDevice(fd, d.name) }); err != nil {
			continue // closed meanwhile
		}
		if serr != nil {
			return n, fmt.Errorf("bind socket to interface %s again: %w", d.name, serr)
		}
		n++
	}
	return n, nil
}
