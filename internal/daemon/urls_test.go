package daemon_test

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// A daemon told to listen on every address (--api-addr 0.0.0.0 or [::])
// prints URLs a client can use: loopback first, then each other address
// of the machine, never the unspecified address (issue 19). The first
// URL works.
func TestUnspecifiedAPIAddrURLs(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) { c.APIAddr = addr }})
			if !strings.HasPrefix(d.APIURL(), "ws://127.0.0.1:") {
				t.Errorf("APIURL %s, want ws://127.0.0.1:…", d.APIURL())
			}
			if !strings.HasPrefix(d.WebURL(), "http://127.0.0.1:") {
				t.Errorf("WebURL %s, want http://127.0.0.1:…", d.WebURL())
			}
			for _, u := range append([]string{d.WebURL(), d.Daemon.URL(), d.APIURL()}, d.OtherWebURLs()...) {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatalf("%s: %v", u, err)
				}
				ip, err := netip.ParseAddr(pu.Hostname())
				if err != nil || ip.IsUnspecified() {
					t.Errorf("URL %s: host %q is not an address a client can use", u, pu.Hostname())
				}
			}
			t.Logf("other URLs: %v", d.OtherWebURLs())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, d.APIURL(), daemontest.Token)
			if err != nil {
				t.Fatalf("dial %s: %v", d.APIURL(), err)
			}
			defer c.Close()
			if _, err := c.ServerInfo(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
