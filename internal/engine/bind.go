package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/netguard"
)

// NetworkDown is Stats.Network while the interface the engine is bound
// to (Config.BindInterface) is down or has no address.
const NetworkDown = "down"

// binding is what Config.BindInterface and Config.BindAddress make of
// the engine's sockets.
type binding struct {
	// iface is the interface every socket is bound to; "" for none.
	iface string
	// control binds a socket to iface (nil without one), through dev,
	// which keeps the sockets to bind them again to a new interface of
	// the same name.
	control bindif.ControlFunc
	dev     *bindif.Device
	// local is the source address of every socket (invalid: any).
	local netip.Addr
}

// newBinding checks cfg's bind settings.
func newBinding(cfg Config) (binding, error) {
	var b binding
	if cfg.BindAddress != "" {
		a, err := netip.ParseAddr(cfg.BindAddress)
		if err != nil {
			return b, fmt.Errorf("bind address %q: %w", cfg.BindAddress, err)
		}
		b.local = a.Unmap()
	}
	if cfg.BindInterface != "" {
		dev, err := bindif.NewDevice(cfg.BindInterface)
		if err != nil {
			return b, fmt.Errorf("bind interface %s: %w", cfg.BindInterface, err)
		}
		b.iface, b.control, b.dev = cfg.BindInterface, dev.Control, dev
	}
	return b, nil
}

func (b binding) active() bool { return b.iface != "" || b.local.IsValid() }

// peerAddr returns the peer listen address: on the bind address when
// one is set; else, bound to an interface, on every address of the
// family (the socket is bound to the device, so it only ever sees that
// interface's traffic, and needs no reopening when its address changes);
// else addr as given.
func (b binding) peerAddr(addr string) (string, error) {
	host, port, err := splitPeerAddr(addr)
	if err != nil || !b.active() {
		return addr, err
	}
	switch {
	case b.local.IsValid():
		host = b.local.String()
	case strings.Contains(host, ":"):
		host = "::"
	default:
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, fmt.Sprint(port)), nil
}

// trackerSockets returns the dialer of HTTP trackers and the socket
// maker of UDP trackers: refusing private addresses when guard is set,
// bound to the interface or address when one is set. Both nil when
// neither applies (the core's defaults).
func (b binding) trackerSockets(guard bool) (dialFunc, func(network, addr string) (net.PacketConn, error)) {
	if !guard && !b.active() {
		return nil, nil
	}
	var gctl bindif.ControlFunc
	if guard {
		gctl = netguard.Control
	}
	ctl := bindif.Chain(gctl, b.control)
	d := &net.Dialer{Timeout: 15 * time.Second, Control: ctl}
	if b.local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: b.local.AsSlice()}
	}
	listen := func(network, addr string) (net.PacketConn, error) {
		pc, err := b.listenPacket(network, addr)
		if err != nil || !guard {
			return pc, err
		}
		return netguard.PacketConn(pc), nil
	}
	return d.DialContext, listen
}

// listenPacket opens a UDP socket bound to the interface and address
// (UDP trackers, uTP, the DHT); addr's host is replaced by the bind
// address when one is set.
func (b binding) listenPacket(network, addr string) (net.PacketConn, error) {
	if b.local.IsValid() {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			port = "0"
		}
		addr = net.JoinHostPort(b.local.String(), port)
	}
	lc := net.ListenConfig{Control: b.control}
	return lc.ListenPacket(context.Background(), network, addr)
}

// netWatch follows the bound interface (bindif.Watch) until stopped,
// telling the core when it goes down and comes back, with one alert each
// way. A nil *netWatch (not bound) is never down.
type netWatch struct {
	down   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// startNetWatch starts watching dev's interface; set is called with each
// change (and at once if it is down), from the watching goroutine. When
// the interface is deleted and created again (another index), every
// socket bound so far is bound to the new one (bindif.Device.Rebind).
func startNetWatch(dev *bindif.Device, alerts *alertSink, log *slog.Logger, set func(down bool)) *netWatch {
	iface := dev.Name()
	ctx, cancel := context.WithCancel(context.Background())
	w := &netWatch{cancel: cancel, done: make(chan struct{})}
	first := true
	index := 0 // the index the long-lived sockets were bound to
	go func() {
		defer close(w.done)
		bindif.Watch(ctx, iface, 0, func(st bindif.State) {
			if index == 0 {
				index = st.Index
			} else if st.Index != 0 && st.Index != index {
				// The listener, the UDP socket and the UDP trackers'
				// sockets were bound to the old device: bind them to
				// the new one, or say why they could not be.
				n, err := dev.Rebind()
				if err != nil {
					alerts.push(Alert{Level: LevelError, Message: fmt.Sprintf("interface %s was created again (index %d, was %d), and the sockets bound to the old one could not be bound to it (%v; that takes CAP_NET_RAW): the peer listener, uTP, the DHT and UDP trackers stay on the old one until the daemon restarts; outgoing TCP peers and HTTP trackers use the new one", iface, st.Index, index, err)})
				} else {
					alerts.push(Alert{Level: LevelInfo, Message: fmt.Sprintf("interface %s was created again (index %d, was %d): %d sockets (the peer listener, uTP, the DHT, UDP trackers) are bound to the new one", iface, st.Index, index, n)})
				}
				log.Info("bound interface created again", "interface", iface, "index", st.Index, "was", index, "rebound", n, "err", err)
				index = st.Index
			}
			was := w.down.Load()
			w.down.Store(!st.Up)
			if first || was != !st.Up {
				set(!st.Up)
			}
			switch {
			case !st.Up && (first || !was):
				alerts.push(Alert{Level: LevelError, Message: fmt.Sprintf("network down: %s; all BitTorrent traffic stopped until it is back (bind-interface)", st.Reason)})
			case st.Up && was:
				alerts.push(Alert{Level: LevelInfo, Message: fmt.Sprintf("network back: interface %s has %v; BitTorrent traffic resumes", iface, st.Addrs)})
			}
			if st.Up {
				log.Info("bound interface up", "interface", iface, "addrs", st.Addrs)
			} else {
				log.Warn("bound interface down", "interface", iface, "reason", st.Reason)
			}
			first = false
		})
	}()
	return w
}

// isDown reports whether the bound interface is down.
func (w *netWatch) isDown() bool { return w != nil && w.down.Load() }

// network is Stats.Network.
func (w *netWatch) network() string {
	if w.isDown() {
		return NetworkDown
	}
	return ""
}

// stop ends the watch and waits for it. Idempotent; nil-safe.
func (w *netWatch) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}
