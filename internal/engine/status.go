package engine

import "github.com/anacrolix/torrent"

// Port forwarding states of Status.PortForward.
const (
	// PortForwardOff: UPnP is off (--upnp=false, bound, or proxy-only).
	PortForwardOff = "off"
	// PortForwardSearching: the first search for gateways is not over.
	PortForwardSearching = "searching"
	// PortForwardMapped: at least one gateway forwards the peer port.
	PortForwardMapped = "mapped"
	// PortForwardNone: the search ended and no gateway forwards the port
	// (none answered, or every one refused).
	PortForwardNone = "none"
	// PortForwardUnknown: the core does not report its mappings (the
	// anacrolix core only logs them).
	PortForwardUnknown = "unknown"
)

// Status is what the engine knows of its own network state, for
// `lodestone doctor` (server.doctor).
type Status struct {
	// DHT reports whether a DHT node runs; DHTNodes is how many nodes
	// its routing tables hold (both families summed).
	DHT      bool
	DHTNodes int
	// PortForward is the UPnP state of the peer port: one of the
	// PortForward constants.
	PortForward string
}

// Status reads the anacrolix core's DHT tables. Its UPnP results are only
// logged by the library, so PortForward is unknown when UPnP is on.
func (e *anacrolixEngine) Status() Status {
	st := Status{PortForward: PortForwardOff}
	if e.upnp {
		st.PortForward = PortForwardUnknown
	}
	for _, s := range e.cl.DhtServers() {
		st.DHT = true
		if w, ok := s.(torrent.AnacrolixDhtServerWrapper); ok {
			st.DHTNodes += w.NumNodes()
		}
	}
	return st
}

// Status reads the native core's DHT table and port forwarding.
func (e *nativeEngine) Status() Status {
	st := Status{DHT: e.cl.DHTOn(), DHTNodes: e.cl.DHTNodes(), PortForward: PortForwardOff}
	switch on, searched, mapped := e.cl.PortForwarding(); {
	case !on:
	case !searched:
		st.PortForward = PortForwardSearching
	case mapped > 0:
		st.PortForward = PortForwardMapped
	default:
		st.PortForward = PortForwardNone
	}
	return st
}
