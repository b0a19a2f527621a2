package engine

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// The anacrolix core behind a proxy and UDP trackers named by a host
// name. Its UDP tracker client resolves the tracker's name itself before
// every send (net.ResolveUDPAddr in tracker/udp), and v1.62.0 offers no
// hook to hand the name to the proxy instead: ClientConfig.LookupTrackerIp
// is read nowhere, and TrackerListenPacket only ever sees the resolved
// address. Announcing to such a tracker would send a DNS query for it
// around the proxy, so it is not announced to at all: it is listed by
// Trackers with withheldText, and one alert says so. A UDP tracker named
// by an IP address needs no lookup and goes through the proxy's UDP
// relay; the native core hands every name to the proxy.

// withheldText is the last error shown for a UDP tracker withheld so.
const withheldText = "not announced to: behind the proxy, the anacrolix core would look this UDP tracker's name up outside the proxy (a DNS leak); the native core, or a tracker named by its IP address, goes through the proxy"

// withholdNamedUDP returns tiers without their UDP trackers named by a
// host name, and those, when r (the proxy route) is set; tiers as they
// are otherwise. The first withheld tracker alerts (once per route).
// Withheld URLs are in their canonical form (canonicalTracker); one
// without such a form is dropped, as capTrackers drops it.
func withholdNamedUDP(r *proxyRoute, tiers [][]string) (kept [][]string, withheld []string) {
	if r == nil {
		return tiers, nil
	}
	for _, tier := range tiers {
		var k []string
		for _, u := range tier {
			if !namedUDP(u) {
				k = append(k, u)
				continue
			}
			if c, ok := canonicalTracker(u); ok && !slices.Contains(withheld, c) {
				withheld = append(withheld, c)
			}
		}
		if len(k) > 0 {
			kept = append(kept, k)
		}
	}
	if len(withheld) > 0 {
		r.withheldUDP()
	}
	return kept, withheld
}

// namedUDP reports whether u is a UDP tracker named by a host name.
func namedUDP(u string) bool {
	p, err := url.Parse(u)
	if err != nil || !strings.HasPrefix(p.Scheme, "udp") {
		return false
	}
	_, err = netip.ParseAddr(p.Hostname())
	return err != nil
}

// withheldUDP alerts, the first time only, that UDP trackers named by a
// host name are not announced to (anacrolix core).
func (r *proxyRoute) withheldUDP() {
	r.mu.Lock()
	first := !r.udpNamesWithheld
	r.udpNamesWithheld = true
	r.mu.Unlock()
	if first {
		r.push(Alert{Level: LevelWarning, Message: fmt.Sprintf(
			"SOCKS5 proxy %s: UDP trackers named by a host name are skipped on the anacrolix core (never contacted directly): it would look their names up outside the proxy; UDP trackers named by an IP address go through the proxy, and the native core (--engine native) sends every tracker name to the proxy", r.p)})
	}
}
