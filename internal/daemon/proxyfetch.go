package daemon

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/engine"
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

// setFetchProxy makes the daemon's HTTP fetches go through the proxy of
// pol when it is proxy-only, its connections to the proxy bound as the
// engine's are (bindProxy); else directly. Should the proxy not parse or
// bind (it was checked before), a proxy that nothing answers stands in
// for it: nothing leaves directly by mistake.
func (n *netSettings) setFetchProxy(pol engine.Network) {
	if pol.Proxy == "" || pol.ProxyAllowDirect {
		n.fetchProxy.Store(nil)
		return
	}
	p, err := socks.Parse(pol.Proxy)
	if err == nil {
		err = bindProxy(p, pol.BindInterface, pol.BindAddress)
	}
	if err != nil {
		n.log.Error("proxy of the daemon's fetches", "err", err)
		p, _ = socks.Parse("socks5://0.0.0.0:1") // refuses: nothing listens there
	}
	n.fetchProxy.Store(p)
}

// bindProxy binds the connections to the proxy as the engine binds its
// own (--bind-interface, --bind-address): with the interface down, the
// proxy is not reached by another route.
func bindProxy(p *socks.Proxy, iface, addr string) error {
	var ctl bindif.ControlFunc
	if iface != "" {
		var err error
		if ctl, err = bindif.Control(iface); err != nil {
			return err
		}
	}
	var local netip.Addr
	if addr != "" {
		var err error
		if local, err = netip.ParseAddr(addr); err != nil {
			return err
		}
	}
	p.Bind(ctl, local.Unmap())
	return nil
}
