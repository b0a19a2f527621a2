package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/logging"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// serveFlags are the variables `lodestone serve`'s flags set.
type serveFlags struct {
	// Cfg receives the flags that are daemon.Config fields.
	Cfg *daemon.Config
	// Config is --config: the configuration file.
	Config *string
	// TokenFile is --token-file.
	TokenFile *string
	// ProxyOnly is --proxy-only (daemon.Config.ProxyAllowDirect's
	// opposite).
	ProxyOnly *bool
	// LogLevel and LogFormat are --log-level and --log-format.
	LogLevel, LogFormat *string
	// PprofAddr is --pprof-addr.
	PprofAddr *string
}

// newServeFlags builds serve's FlagSet, not parsed, with ContinueOnError
// and output to stderr's default: the one list of serve's flags, which
// the configuration file's keys, the completion and the man page are
// made from. Every flag's value is a flag.Getter; serveChecks check
// the values.
func newServeFlags() (*flag.FlagSet, *serveFlags) {
	cfg := daemon.Default()
	sf := &serveFlags{Cfg: &cfg}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	sf.Config = fs.String("config", "", "configuration file, TOML (default: $XDG_CONFIG_HOME/lodestone/config.toml, else ~/.config/lodestone/config.toml, else /etc/lodestone/config.toml; see docs/OPERATIONS.md)")
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "API (WebSocket) listen address")
	fs.StringVar(&cfg.TransmissionAddr, "transmission-addr", "", "also serve Transmission's RPC (/transmission/rpc) alone on this address, e.g. 127.0.0.1:9091, for tools that assume Transmission's port (default: off; it is always on the API address)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "state directory (store, token, piece completion)")
	fs.StringVar(&cfg.DownloadDir, "download-dir", cfg.DownloadDir, "where downloaded data is written")
	fs.StringVar(&cfg.PeerAddr, "peer-addr", "", "BitTorrent listen address (default: all interfaces, a random high port kept across restarts)")
	fs.StringVar(&cfg.BindInterface, "bind-interface", "", "send and receive all BitTorrent traffic (peers, trackers, DHT) through this network interface only, e.g. wg0; while it is down, nothing is sent (kill switch); Linux only, native engine (see docs/PRIVACY.md)")
	fs.StringVar(&cfg.BindAddress, "bind-address", "", "use this local address for all BitTorrent traffic and listening (a fixed address; no kill switch without --bind-interface)")
	fs.BoolVar(&cfg.DHT, "dht", cfg.DHT, "use the mainline DHT")
	fs.BoolVar(&cfg.UPnP, "upnp", cfg.UPnP, "forward the peer port with UPnP/NAT-PMP")
	fs.BoolVar(&cfg.UTP, "utp", cfg.UTP, "use uTP besides TCP")
	fs.StringVar(&cfg.Token, "token", "", "API token (default: $LODESTONE_TOKEN, else generated and kept in the data dir); on the command line every local user sees it in ps: prefer --token-file or $LODESTONE_TOKEN")
	sf.TokenFile = fs.String("token-file", "", "read the API token from this file (surrounding whitespace ignored)")
	fs.Var(listOf(&cfg.AllowedHosts), "allow-host", "extra host name accepted in the HTTP Host header (repeatable)")
	fs.Var(listOf(&cfg.DownloadRoots), "download-root", "extra directory tasks may be put in with download_dir or task.move (repeatable; the download dir always is one)")
	fs.Var(listOf(&cfg.WatchRoots), "watch-root", "extra directory watched folders (watch.add) may lie in, besides the download dir and roots (repeatable)")
	fs.BoolVar(&cfg.AllowPrivateURLs, "allow-private-urls", false, "let task.add type url fetch from loopback and private addresses (refused by default)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve the API over TLS with this PEM certificate (with --tls-key)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&cfg.AllowPrivateTrackers, "allow-private-trackers", false, "let torrents announce to trackers on loopback and private addresses (refused by default)")
	fs.StringVar(&cfg.Engine, "engine", cfg.Engine, "BitTorrent core: native (Lodestone's own) or anacrolix (github.com/anacrolix/torrent, the core before it; see docs/PERFORMANCE.md)")
	fs.StringVar(&cfg.Encryption, "encryption", cfg.Encryption, "peer encryption (MSE/PE): prefer (try it first, accept both), require (RC4-encrypted peers only, both ways) or disable (plaintext only); see docs/PRIVACY.md")
	fs.BoolVar(&cfg.Anonymous, "anonymous", false, "hide Lodestone's name and version from peers and trackers: no client name in handshakes, a random peer ID, a generic User-Agent; see docs/PRIVACY.md")
	fs.IntVar(&cfg.WriteBufferMiB, "write-buffer-mib", 0, "experimental: memory in MiB for pieces being downloaded, each hashed in memory and written once verified (0, the default: write every 16 KiB chunk as it arrives)")
	fs.StringVar(&cfg.Proxy, "proxy", "", "SOCKS5 proxy for peer connections and trackers, socks5://[user:pass@]host:port; host names are resolved by the proxy (default: $LODESTONE_PROXY; on the command line every local user sees its password in ps)")
	sf.ProxyOnly = fs.Bool("proxy-only", true, "with --proxy: nothing leaves but through it (no incoming peers, DHT, uTP or UPnP); false keeps those on, directly")
	fs.Var(listOf(&cfg.Blocklists), "blocklist", "IP blocklist: an absolute file path or an http(s) URL; eMule ipfilter.dat, PeerGuardian P2P or CIDR lines, gzip or not (repeatable; see docs/PRIVACY.md)")
	fs.DurationVar(&cfg.BlocklistRefresh, "blocklist-refresh", cfg.BlocklistRefresh, "how often URL blocklists are fetched again")
	fs.StringVar(&cfg.QBittorrentAddr, "qbittorrent-addr", "", "also serve qBittorrent's WebUI API (/api/v2/ only) on this address, for tools that want a port of their own (default: off; the API is served on --api-addr too)")
	sf.LogLevel = fs.String("log-level", "info", "log level: debug, info, warn, error (per component: the config file's [log_levels])")
	sf.LogFormat = fs.String("log-format", logging.FormatText, "log format on standard error: text (key=value) or json (one object a line)")
	sf.PprofAddr = fs.String("pprof-addr", "", "serve Go's profiler (/debug/pprof/) on this loopback address, for performance work (default: off)")
	addClusterFlags(fs, &cfg.Cluster)
	return fs, sf
}

// serveChecks are the checks of serve's flag values beyond their type,
// by flag (config.Options.Checks): a bad value is refused alike from the
// command line, the environment and the file, the file's with its line.
// Checks across flags are daemon.Config.Validate's.
func serveChecks() map[string]func(string) error {
	checks := map[string]func(string) error{
		"api-addr":          hostPort,
		"transmission-addr": hostPort,
		"qbittorrent-addr":  hostPort,
		"peer-addr":         hostPort,
		"pprof-addr":        hostPort,
		"bind-address":      ipAddr,
		"engine":            oneOf(engine.CoreNative, engine.CoreAnacrolix),
		"encryption":        engine.CheckEncryption,
		"proxy":             proxyURL,
		"blocklist":         blocklist.CheckSource,
		"log-level":         checkLevel,
		"log-format":        logging.CheckFormat,
	}
	for flag, check := range clusterChecks() {
		checks[flag] = check
	}
	return checks
}

// stringList is a repeatable string flag.
type stringList struct{ p *[]string }

func listOf(p *[]string) *stringList { return &stringList{p: p} }

func (l *stringList) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *stringList) Get() any { return *l.p }

func (l *stringList) Set(v string) error {
	*l.p = append(*l.p, v)
	return nil
}

func hostPort(s string) error {
	_, _, err := net.SplitHostPort(s)
	return err
}

func ipAddr(s string) error {
	_, err := netip.ParseAddr(s)
	return err
}

func proxyURL(s string) error {
	_, err := socks.Parse(s)
	return err
}

func checkLevel(s string) error {
	_, err := logging.ParseLevel(s)
	return err
}

func oneOf(values ...string) func(string) error {
	return func(s string) error {
		for _, v := range values {
			if s == v {
				return nil
			}
		}
		return fmt.Errorf("%q: want %s", s, strings.Join(values, " or "))
	}
}
