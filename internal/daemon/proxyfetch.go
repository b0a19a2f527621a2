package daemon

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// httpDial is the dialer of the daemon's own HTTP fetches — task.add's
// type "url", RSS feeds, blocklist URLs, webhook deliveries — or nil for
// direct connections. Proxy-only (--proxy without --proxy-allow-direct),
// it is the proxy's, so that nothing leaves except through the proxy;
// host names are then resolved by the proxy (issue 18).
func httpDial(cfg Config) netguard.DialFunc {
	if cfg.Proxy == "" || cfg.ProxyAllowDirect {
		return nil
	}
	p, err := socks.Parse(cfg.Proxy)
	if err == nil {
		err = bindProxy(p, cfg)
	}
	if err != nil {
		// Validate parsed it already; should it fail anyway, nothing
		// is dialled at all rather than dialled directly.
		return func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	return p.DialContext
}

// bindProxy binds the connections to the proxy as the engine binds its
// own (--bind-interface, --bind-address): with the interface down, the
// proxy is not reached by another route.
func bindProxy(p *socks.Proxy, cfg Config) error {
	var ctl bindif.ControlFunc
	if cfg.BindInterface != "" {
		var err error
		if ctl, err = bindif.Control(cfg.BindInterface); err != nil {
			return err
		}
	}
	var local netip.Addr
	if cfg.BindAddress != "" {
		var err error
		if local, err = netip.ParseAddr(cfg.BindAddress); err != nil {
			return err
		}
	}
	p.Bind(ctl, local.Unmap())
	return nil
}
