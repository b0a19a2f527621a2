package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/doctor"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// proxyDialTimeout bounds server.doctor's connection to the proxy.
const proxyDialTimeout = 5 * time.Second

// diagnose answers server.doctor (issue 19): the checks that need the
// daemon's view — its directories as its user sees them, its token file,
// its listeners, the engine's DHT and port forwarding, the blocklists and
// the proxy — in a fixed order.
func (d *Daemon) diagnose(ctx context.Context, _ struct{}) (api.DoctorResult, error) {
	now := time.Now()
	core := d.cfg.Engine
	if core == "" {
		core = engine.CoreNative
	}
	fs := []doctor.Finding{
		doctor.Served(d.APIAddr(), d.scheme == "wss", core),
		doctor.Dir(doctor.CheckDataDir, "data dir", d.cfg.DataDir, "--data-dir"),
		doctor.Dir(doctor.CheckDownloadDir, "download dir", d.cfg.DownloadDir, "--download-dir"),
	}
	for _, r := range d.cfg.DownloadRoots {
		fs = append(fs, doctor.Dir(doctor.CheckDownloadDir, "download root", r, "--download-root"))
	}
	if d.cfg.Token == "" {
		// The token was generated and is kept in the data dir.
		fs = append(fs, doctor.TokenFile(filepath.Join(d.cfg.DataDir, TokenFile)))
	} else {
		fs = append(fs, doctor.OK(doctor.CheckTokenFile, "the token is given by --token, --token-file or $LODESTONE_TOKEN"))
	}
	proxyOnly := d.cfg.Proxy != "" && !d.cfg.ProxyAllowDirect
	addrs := d.eng.PeerAddrs()
	fs = append(fs, doctor.PeerListening(addrs, proxyOnly))
	st := d.eng.Status()
	port := 0
	for _, a := range addrs {
		if ta, ok := a.(*net.TCPAddr); ok {
			port = ta.Port
			break
		}
	}
	fs = append(fs, doctor.UPnP(st.PortForward, port))
	info, err := d.svc.Info()
	if err != nil {
		return api.DoctorResult{}, err
	}
	fs = append(fs, doctor.DHT(st.DHT, st.DHTNodes, time.Duration(info.UptimeSeconds)*time.Second))
	fs = append(fs, doctor.Clock(now, doctor.BuildTime()), doctor.Root(os.Geteuid()))
	rules, _, _ := d.blocklists.Counts()
	lastErr, at := d.blocklists.lastError()
	fs = append(fs, doctor.Blocklist(d.blocklists.Sources(), rules, lastErr, at))
	fs = append(fs, d.checkProxy(ctx))
	return api.DoctorResult{Time: now.UTC().Format(time.RFC3339Nano), Findings: fs}, nil
}

// checkProxy connects to the proxy, if one is set, to see that it
// answers now (the engine alerts when it stops answering; this says
// whether it does at this moment).
func (d *Daemon) checkProxy(ctx context.Context) doctor.Finding {
	if d.cfg.Proxy == "" {
		return doctor.Proxy("", nil)
	}
	p, err := socks.Parse(d.cfg.Proxy)
	if err != nil { // Validate refused it at start
		return doctor.Proxy("(unparsable)", err)
	}
	ctx, cancel := context.WithTimeout(ctx, proxyDialTimeout)
	defer cancel()
	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "tcp", p.Addr())
	if err == nil {
		c.Close()
	}
	return doctor.Proxy(p.String(), err)
}
