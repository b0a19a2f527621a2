package daemon

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
)

// urlHosts returns the hosts (IP literals, in URL form) a browser or
// client can use to reach a listener on host: host itself, unless it is
// unspecified (0.0.0.0, ::, or empty), which no client can dial; then
// every address of this machine's interfaces the listener accepts on,
// loopback first. Link-local addresses are left out (they need a zone).
func urlHosts(host string) []string {
	ip, err := netip.ParseAddr(host)
	if host != "" && (err != nil || !ip.IsUnspecified()) {
		return []string{host}
	}
	// 0.0.0.0 takes IPv4 only; "::" and "" take both (dual stack).
	v4only := err == nil && ip.Is4()
	addrs, _ := net.InterfaceAddrs()
	var loop, other []string
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		if (v4only && !ip.Is4()) || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		if ip.IsLoopback() {
			loop = append(loop, ip.String())
		} else {
			other = append(other, ip.String())
		}
	}
	// 127.0.0.1 before ::1: every client resolves the former.
	slices.SortStableFunc(loop, func(a, b string) int {
		return boolInt(netip.MustParseAddr(b).Is4()) - boolInt(netip.MustParseAddr(a).Is4())
	})
	hosts := append(loop, other...)
	if len(hosts) == 0 {
		return []string{"127.0.0.1"}
	}
	return hosts
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// apiHostPorts returns the API's address in each usable form (see
// urlHosts), the first the one to show first.
func (d *Daemon) apiHostPorts() []string {
	host, port, err := net.SplitHostPort(d.APIAddr())
	if err != nil {
		return []string{d.APIAddr()}
	}
	hosts := urlHosts(host)
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = net.JoinHostPort(h, port)
	}
	return out
}

// webURLAt is the web UI's address with the token at hostPort.
func (d *Daemon) webURLAt(hostPort string) string {
	scheme := "http"
	if d.scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + hostPort + "/?token=" + url.QueryEscape(d.token)
}

// OtherWebURLs returns the web UI's address at every other address of
// this machine the API listens on, when it listens on all of them
// (--api-addr 0.0.0.0:6810 or [::]:6810): WebURL names the first, a
// loopback address; these are for other machines. Empty otherwise.
func (d *Daemon) OtherWebURLs() []string {
	hps := d.apiHostPorts()
	out := make([]string, 0, len(hps)-1)
	for _, hp := range hps[1:] {
		out = append(out, d.webURLAt(hp))
	}
	return out
}
