package daemon

import (
	"context"
	"fmt"
	"net"

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
	if err != nil {
		// Validate parsed it already; should it fail anyway, nothing
		// is dialled at all rather than dialled directly.
		return func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	return p.DialContext
}
