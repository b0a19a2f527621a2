// Command lodestone is the Lodestone BitTorrent daemon and its tools.
// `lodestone serve` runs the daemon; every other subcommand (add, ls, info,
// pause, resume, rm, set, watch, stats, help) is a client of a running
// daemon, implemented in internal/cli. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/sdnotify"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		if err := serve(args[1:], os.Stdout, os.Stderr); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "lodestone:", err)
			}
			os.Exit(2)
		}
		return
	}
	// Every other command is a client of a running daemon.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, args, cli.Options{Stdout: os.Stdout, Stderr: os.Stderr, ServeFlags: serveFlags})
	stop()
	os.Exit(code)
}

// hostList is a repeatable string flag.
type hostList []string

func (h *hostList) String() string     { return strings.Join(*h, ",") }
func (h *hostList) Set(v string) error { *h = append(*h, v); return nil }

func serve(args []string, stdout, stderr io.Writer) error {
	cfg := daemon.Default()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.APIAddr, "api-addr", cfg.APIAddr, "API (WebSocket) listen address")
	fs.StringVar(&cfg.TransmissionAddr, "transmission-addr", "", "also serve Transmission's RPC (/transmission/rpc) alone on this address, e.g. 127.0.0.1:9091, for tools that assume Transmission's port (default: off; it is always on the API address)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "state directory (store, token, piece completion)")
	fs.StringVar(&cfg.DownloadDir, "download-dir", cfg.DownloadDir, "where downloaded data is written")
	fs.StringVar(&cfg.PeerAddr, "peer-addr", cfg.PeerAddr, "BitTorrent listen address (default: all interfaces, a random high port kept across restarts)")
	fs.StringVar(&cfg.BindInterface, "bind-interface", "", "send and receive all BitTorrent traffic (peers, trackers, DHT) through this network interface only, e.g. wg0; while it is down, nothing is sent (kill switch); Linux only, native engine (see docs/PRIVACY.md)")
	fs.StringVar(&cfg.BindAddress, "bind-address", "", "use this local address for all BitTorrent traffic and listening (a fixed address; no kill switch without --bind-interface)")
	fs.BoolVar(&cfg.DHT, "dht", cfg.DHT, "use the mainline DHT")
	fs.BoolVar(&cfg.UPnP, "upnp", cfg.UPnP, "forward the peer port with UPnP/NAT-PMP")
	fs.BoolVar(&cfg.UTP, "utp", cfg.UTP, "use uTP besides TCP")
	fs.StringVar(&cfg.Token, "token", os.Getenv("LODESTONE_TOKEN"), "API token (default: $LODESTONE_TOKEN, else generated and kept in the data dir); on the command line every local user sees it in ps: prefer --token-file or $LODESTONE_TOKEN")
	tokenFile := fs.String("token-file", "", "read the API token from this file (surrounding whitespace ignored)")
	fs.Var((*hostList)(&cfg.AllowedHosts), "allow-host", "extra host name accepted in the HTTP Host header (repeatable)")
	fs.Var((*hostList)(&cfg.DownloadRoots), "download-root", "extra directory tasks may be put in with download_dir or task.move (repeatable; the download dir always is one)")
	fs.Var((*hostList)(&cfg.WatchRoots), "watch-root", "extra directory watched folders (watch.add) may lie in, besides the download dir and roots (repeatable)")
	fs.BoolVar(&cfg.AllowPrivateURLs, "allow-private-urls", false, "let task.add type url fetch from loopback and private addresses (refused by default)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "serve the API over TLS with this PEM certificate (with --tls-key)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.BoolVar(&cfg.AllowPrivateTrackers, "allow-private-trackers", false, "let torrents announce to trackers on loopback and private addresses (refused by default)")
	fs.StringVar(&cfg.Engine, "engine", cfg.Engine, "BitTorrent core: native (Lodestone's own) or anacrolix (github.com/anacrolix/torrent, the core before it; see docs/PERFORMANCE.md)")
	fs.StringVar(&cfg.Encryption, "encryption", cfg.Encryption, "peer encryption (MSE/PE): prefer (try it first, accept both), require (RC4-encrypted peers only, both ways) or disable (plaintext only); see docs/PRIVACY.md")
	fs.BoolVar(&cfg.Anonymous, "anonymous", false, "hide Lodestone's name and version from peers and trackers: no client name in handshakes, a random peer ID, a generic User-Agent; see docs/PRIVACY.md")
	fs.IntVar(&cfg.WriteBufferMiB, "write-buffer-mib", 0, "experimental: memory in MiB for pieces being downloaded, each hashed in memory and written once verified (0, the default: write every 16 KiB chunk as it arrives)")
	fs.StringVar(&cfg.Proxy, "proxy", "", "SOCKS5 proxy for peer connections and trackers, socks5://[user:pass@]host:port; host names are resolved by the proxy (default: $LODESTONE_PROXY; on the command line every local user sees its password in ps)")
	proxyOnly := fs.Bool("proxy-only", true, "with --proxy: nothing leaves but through it (no incoming peers, DHT, uTP or UPnP); false keeps those on, directly")
	fs.Var((*hostList)(&cfg.Blocklists), "blocklist", "IP blocklist: an absolute file path or an http(s) URL; eMule ipfilter.dat, PeerGuardian P2P or CIDR lines, gzip or not (repeatable; see docs/PRIVACY.md)")
	fs.DurationVar(&cfg.BlocklistRefresh, "blocklist-refresh", cfg.BlocklistRefresh, "how often URL blocklists are fetched again")
	fs.StringVar(&cfg.QBittorrentAddr, "qbittorrent-addr", "", "also serve qBittorrent's WebUI API (/api/v2/ only) on this address, for tools that want a port of their own (default: off; the API is served on --api-addr too)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pprofAddr := fs.String("pprof-addr", "", "serve Go's profiler (/debug/pprof/) on this loopback address, for performance work (default: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	// Read after parsing, not as the flag's default: -help would print
	// the password.
	if cfg.Proxy == "" {
		cfg.Proxy = os.Getenv("LODESTONE_PROXY")
	}
	cfg.ProxyAllowDirect = !*proxyOnly
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("log-level: %w", err)
	}
	tokenOnCommandLine := false
	fs.Visit(func(f *flag.Flag) { tokenOnCommandLine = tokenOnCommandLine || f.Name == "token" })
	tok, err := tokenFrom(cfg.Token, tokenOnCommandLine, *tokenFile)
	if err != nil {
		return err
	}
	cfg.Token = tok
	cfg.TokenFile = *tokenFile // named in the daemon file, for local clients
	if v := os.Getenv("LODESTONE_TEST_STALL_AFTER_FILES"); v != "" {
		// A hook for the crash tests only (daemon.Config).
		if cfg.TestStallAfterFiles, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("LODESTONE_TEST_STALL_AFTER_FILES: %w", err)
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if before, after, err := raiseFileLimit(); err != nil {
		cfg.Logger.Warn("raise the open-file limit", "err", err, "limit", before)
	} else if after > before {
		cfg.Logger.Info("open-file limit raised", "from", before, "to", after)
	}
	if tokenOnCommandLine {
		cfg.Logger.Warn("--token on the command line is visible to every local user (ps, /proc): prefer --token-file or LODESTONE_TOKEN")
	}

	// Under a Type=notify systemd unit: READY=1, STOPPING=1 and the
	// watchdog (contrib/systemd).
	if n, err := sdnotify.New(os.Getenv, os.Getpid()); err != nil {
		cfg.Logger.Warn("not notifying systemd", "err", err)
	} else if n != nil {
		cfg.Notifier = n
		// A service's stdout is the journal, which more than the
		// daemon's user reads: no banner, which shows the token. The
		// "serving" log line names the API.
		stdout = io.Discard
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var prof *pprofServer
	if *pprofAddr != "" {
		var err error
		if prof, err = listenPprof(*pprofAddr, cfg.Logger); err != nil {
			return err
		}
	}
	d, err := daemon.New(cfg)
	if err != nil {
		if prof != nil {
			prof.ln.Close()
		}
		return err
	}
	if prof != nil {
		prof.srv.Handler = pprofHandler(d.Guard())
	}
	fmt.Fprintf(stdout, "Lodestone is running.\n  Web UI: %s\n", d.WebURL())
	for _, u := range d.OtherWebURLs() { // --api-addr 0.0.0.0: every address
		fmt.Fprintf(stdout, "          %s\n", u)
	}
	fmt.Fprintf(stdout, "  API:    %s\n  Token:  %s\n  URL:    %s\n", d.APIURL(), d.Token(), d.URL())
	// The daemon and the profiler end together, and serve returns once
	// both have.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	if prof != nil {
		g.Go(func() error { return prof.run(ctx) })
	}
	g.Go(func() error {
		defer cancel()
		return d.Run(ctx)
	})
	return g.Wait()
}

// tokenFrom settles the API token: from --token-file when given (never
// together with --token on the command line), else the --token flag's
// value (the environment's when the flag is not set).
func tokenFrom(flagValue string, onCommandLine bool, file string) (string, error) {
	if file == "" {
		return flagValue, nil
	}
	if onCommandLine {
		return "", errors.New("give --token or --token-file, not both")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token-file %s is empty", file)
	}
	return tok, nil
}
