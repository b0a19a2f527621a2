package doctor

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// Port forwarding states, as engine.Status reports them (this package
// does not import the engine).
const (
	portForwardOff       = "off"
	portForwardSearching = "searching"
	portForwardMapped    = "mapped"
	portForwardNone      = "none"
)

// PeerListening checks a running daemon's peer listeners: addrs are its
// listen addresses (TCP and UDP). proxyOnly: no listener is expected.
func PeerListening(addrs []net.Addr, proxyOnly bool) Finding {
	if proxyOnly {
		return OK(CheckPeerPort, "no peer listener: --proxy-only lets nothing in (incoming peers cannot reach you)")
	}
	if len(addrs) == 0 {
		return Error(CheckPeerPort, "restart the daemon with a free --peer-addr, e.g. --peer-addr :51413",
			"the daemon accepts no peers: it has no listener")
	}
	return OK(CheckPeerPort, "the daemon listens for peers on %s", AddrsText(addrs))
}

// AddrsText lists listen addresses once each, with the protocols of each
// ("[::]:51413 (tcp, udp)"): a port shared by TCP and uTP would
// otherwise be listed twice.
func AddrsText(addrs []net.Addr) string {
	var order []string
	nets := map[string][]string{}
	for _, a := range addrs {
		s := a.String()
		if _, ok := nets[s]; !ok {
			order = append(order, s)
		}
		nets[s] = append(nets[s], a.Network())
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%s (%s)", s, strings.Join(nets[s], ", "))
	}
	return strings.Join(parts, ", ")
}

// UPnP checks the port forwarding state (engine.Status.PortForward) of
// port.
func UPnP(state string, port int) Finding {
	switch state {
	case portForwardOff, "":
		return OK(CheckUPnP, "UPnP port forwarding is off (--upnp=false, or not possible with --bind-interface or --proxy-only)")
	case portForwardSearching:
		return OK(CheckUPnP, "UPnP: still looking for a gateway")
	case portForwardMapped:
		return OK(CheckUPnP, "UPnP: the gateway forwards port %d to this machine", port)
	case portForwardNone:
		return Warn(CheckUPnP, fmt.Sprintf("turn UPnP on in the router, or forward TCP and UDP port %d to this machine by hand (if it has a public address, nothing is needed)", port),
			"UPnP: no gateway forwards port %d: peers behind no NAT of yours can still be dialled, but cannot dial you", port)
	}
	return OK(CheckUPnP, "UPnP is on; this engine core does not report whether the gateway mapped port %d (see the log)", port)
}

// DHTWarmup is how long after the start a DHT with no node is not yet a
// problem: the first bootstrap may take this long.
const DHTWarmup = time.Minute

// DHT checks the DHT: on, with nodes known once it has had time to
// bootstrap.
func DHT(on bool, nodes int, uptime time.Duration) Finding {
	switch {
	case !on:
		return OK(CheckDHT, "the DHT is off (--dht=false or --proxy-only): magnets need trackers or x.pe peers")
	case nodes > 0:
		return OK(CheckDHT, "the DHT knows %d nodes", nodes)
	case uptime < DHTWarmup:
		return OK(CheckDHT, "the DHT knows no node yet (started %s ago)", uptime.Round(time.Second))
	}
	return Warn(CheckDHT, "check the network and DNS (the DHT starts from router.bittorrent.com and others, by UDP); or serve --dht=false to stop trying",
		"the DHT knows no node after %s: no network, no DNS, or UDP blocked", uptime.Round(time.Second))
}

// Blocklist checks the IP blocklists: the sources in force, their rules,
// and the last failure to load or refresh one (zero at: none).
func Blocklist(sources []string, rules int, lastErr string, at time.Time) Finding {
	if len(sources) == 0 {
		return OK(CheckBlocklist, "no IP blocklist")
	}
	if lastErr != "" {
		return Warn(CheckBlocklist, "check the blocklist's URL or file, or replace it: lodestone's session.set blocklists (or serve --blocklist)",
			"%d blocklists, %d rules in force; the last load failed at %s: %s", len(sources), rules, at.UTC().Format(time.RFC3339), lastErr)
	}
	if rules == 0 {
		return Warn(CheckBlocklist, "check that the lists are in a supported format (eMule ipfilter.dat, PeerGuardian P2P or CIDR lines)",
			"%d blocklists in force, but they hold no rule", len(sources))
	}
	return OK(CheckBlocklist, "%d blocklists, %d rules in force", len(sources), rules)
}

// Proxy checks the SOCKS5 proxy (its URL without password; "" for none)
// with the outcome of a connection to it just made (dialErr).
func Proxy(proxy string, dialErr error) Finding {
	if proxy == "" {
		return OK(CheckProxy, "no proxy: peers and trackers are contacted directly")
	}
	if dialErr != nil {
		return Error(CheckProxy, "start the proxy, or correct --proxy / $LODESTONE_PROXY",
			"SOCKS5 proxy %s does not answer: %v; no peer or tracker is contacted meanwhile", proxy, dialErr)
	}
	return OK(CheckProxy, "SOCKS5 proxy %s accepts connections", proxy)
}
