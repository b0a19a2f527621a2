package native

import (
	"log/slog"
	"sync"
	"time"

	"github.com/anacrolix/upnp"
)

const (
	// portLease is how long a gateway keeps our port mapping; it is
	// renewed at half that.
	portLease = time.Hour
	// upnpDiscovery bounds one search for gateways.
	upnpDiscovery = 2 * time.Second
	// unmapWait bounds how long Close waits for the mappings to be removed.
	unmapWait = 3 * time.Second
)

// portForwarder asks the UPnP gateways of the local network to forward
// the client's port (TCP, and UDP for uTP and the DHT) to it, renews the
// mappings while the client runs and removes them when it closes.
type portForwarder struct {
	c    *Client
	log  *slog.Logger
	done chan struct{}

	mu       sync.Mutex
	mapped   []portMapping
	searched bool // a search for gateways has ended
}

type portMapping struct {
	d        upnp.Device
	proto    upnp.Protocol
	external int
}

func (c *Client) startPortForwarding() *portForwarder {
	f := &portForwarder{c: c, log: c.log.With("component", "upnp"), done: make(chan struct{})}
	go f.run()
	return f
}

func (f *portForwarder) run() {
	defer close(f.done)
	port := int(f.c.Addr().Port())
	protos := []upnp.Protocol{upnp.TCP}
	if f.c.udp != nil {
		protos = append(protos, upnp.UDP)
	}
	for {
		devices := upnp.Discover(0, upnpDiscovery, libLogger("upnp", f.log))
		f.log.Debug("UPnP gateways found", "count", len(devices))
		var mapped []portMapping
		for _, d := range devices {
			for _, proto := range protos {
				ext, err := d.AddPortMapping(proto, port, port, "Lodestone", portLease)
				if err != nil {
					f.log.Warn("UPnP port mapping failed", "gateway", d.GetLocalIPAddress(), "proto", proto, "port", port, "err", err)
					continue
				}
				if ext != port {
					f.log.Warn("UPnP gateway mapped another port", "gateway", d.GetLocalIPAddress(), "proto", proto, "port", port, "external", ext)
				}
				mapped = append(mapped, portMapping{d, proto, ext})
			}
		}
		f.mu.Lock()
		f.mapped, f.searched = mapped, true
		f.mu.Unlock()
		select {
		case <-f.c.ctx.Done():
			for _, m := range mapped {
				if err := m.d.DeletePortMapping(m.proto, m.external); err != nil {
					f.log.Debug("UPnP unmapping failed", "gateway", m.d.GetLocalIPAddress(), "err", err)
				}
			}
			return
		case <-time.After(portLease / 2):
		}
	}
}

// wait waits, a bounded time, for the mappings to be removed after the
// client's context ended.
func (f *portForwarder) wait() {
	select {
	case <-f.done:
	case <-time.After(unmapWait):
	}
}

// PortForwarding reports whether the client forwards its port with UPnP
// (on), whether a first search for gateways has ended, and how many
// mappings (gateway and protocol) it holds.
func (c *Client) PortForwarding() (on, searched bool, mapped int) {
	if c.ports == nil {
		return false, false, 0
	}
	c.ports.mu.Lock()
	defer c.ports.mu.Unlock()
	return true, c.ports.searched, len(c.ports.mapped)
}
