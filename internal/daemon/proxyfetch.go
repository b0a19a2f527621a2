package daemon

import (
	"context"
	"net"
	"time"

	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// httpDial is the dialer of the daemon's own HTTP fetches — task.add's
// type "url", RSS feeds, blocklist URLs, webhook deliveries. Proxy-only
// (a proxy without proxy_only false) it is the proxy's, so that nothing
// leaves except through the proxy, host names then resolved by the
// proxy (issue 18); else a direct dial, which refuses private addresses
// unless allowPrivate (netguard.Control). It reads the proxy setting at
// each dial, so session.set changes it for the next connection. (Its
// users also wrap it in netguard.ViaProxy unless allowPrivate: on the
// direct path that refuses only what Control would.)
func (n *netSettings) httpDial(allowPrivate bool) netguard.DialFunc {
	direct := &net.Dialer{Timeout: 30 * time.Second}
	if !allowPrivate {
		direct.Control = netguard.Control
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p := n.fetchProxy.Load(); p != nil {
			return p.DialContext(ctx, network, addr)
		}
		return direct.DialContext(ctx, network, addr)
	}
}

// setFetchProxy makes the daemon's HTTP fetches go through raw's proxy
// when proxyOnly, else directly. Should raw not parse (it was checked
// before), a proxy that nothing answers stands in for it: nothing
// leaves directly by mistake.
func (n *netSettings) setFetchProxy(raw string, proxyOnly bool) {
	if raw == "" || !proxyOnly {
		n.fetchProxy.Store(nil)
		return
	}
	p, err := socks.Parse(raw)
	if err != nil {
		p, _ = socks.Parse("socks5://0.0.0.0:1") // refuses: nothing listens there
	}
	n.fetchProxy.Store(p)
}
