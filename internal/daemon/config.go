package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// DefaultAPIAddr is where the API listens unless told otherwise: loopback
// only.
const DefaultAPIAddr = "127.0.0.1:6810"

// Config is everything the daemon is told at start.
type Config struct {
	// APIAddr is the HTTP/WebSocket listen address, host:port.
	APIAddr string
	// TransmissionAddr, when set, is a second listen address serving
	// Transmission's RPC alone (/transmission/rpc), for tools that assume
	// Transmission's port; it is always on the API listener too. Empty
	// (the default) is off.
	TransmissionAddr string
	// DataDir holds the store, the piece-completion database and the token.
	DataDir string
	// DownloadDir is where torrent data is written by default.
	DownloadDir string
	// DownloadRoots are further directories that tasks may be put in
	// (task.add download_dir, task.move); DownloadDir always is one.
	DownloadRoots []string
	// WatchRoots are further directories watched folders may lie in
	// (watch.add), besides DownloadDir and DownloadRoots: a folder where
	// another program drops .torrent files need not be a download root.
	WatchRoots []string
	// WatchInterval is the time between two scans of the watched folders;
	// 0 is watch.DefaultInterval (tests shorten it).
	WatchInterval time.Duration
	// PeerAddr is the BitTorrent listen address. Empty means all
	// interfaces on a random high port chosen at first start and kept.
	PeerAddr string
	// DHT, UPnP and UTP switch the mainline DHT, UPnP/NAT-PMP port
	// forwarding and uTP on or off.
	DHT, UPnP, UTP bool
	// Token is the API token; empty means the one stored in DataDir,
	// generated on first start.
	Token string
	// TokenFile is the file Token was read from (serve --token-file), if
	// it was: the daemon file (api.DaemonFile) names it so that local
	// clients read it too. Empty otherwise.
	TokenFile string
	// RuntimeDir is where the daemon also writes its daemon file, one per
	// running daemon ($XDG_RUNTIME_DIR/lodestone by default), so that
	// local clients find a daemon whatever its data dir; "" for none.
	RuntimeDir string
	// AllowedHosts are host names accepted in the HTTP Host header besides
	// loopback names and IP literals.
	AllowedHosts []string
	// AllowPrivateURLs lets task.add type url fetch from loopback and
	// private addresses (refused by default: SSRF).
	AllowPrivateURLs bool
	// AuthBackoff is the first wait of an address after too many wrong
	// tokens (0: httpguard.DefaultAuthBackoff).
	AuthBackoff time.Duration
	// TLSCert and TLSKey are PEM files; with both set the API is served
	// over TLS only (wss:// and https://).
	TLSCert, TLSKey string
	// AllowPrivateTrackers lets the engine announce to trackers on
	// loopback and private addresses (refused by default: SSRF).
	AllowPrivateTrackers bool
	// WriteBufferMiB is the memory for the chunks of pieces not yet
	// verified, which are written to disk once their piece passes
	// (experimental); 0 writes every chunk as it arrives.
	WriteBufferMiB int
	// Proxy is a SOCKS5 proxy, socks5://[user:pass@]host:port, that peer
	// connections and tracker announces go through (engine.Config.Proxy);
	// empty: none. Its password is never logged.
	Proxy string
	// ProxyAllowDirect, with Proxy, keeps the peer listener, the DHT, uTP
	// and UPnP on beside it (--proxy-only=false); off, nothing leaves but
	// through the proxy.
	ProxyAllowDirect bool
	// CapLoopbackPerAddress caps the unauthenticated connections of each
	// loopback address as a remote address's are (connguard), instead of
	// counting them only in the total: for tests, where 127.0.0.x stand
	// in for remote addresses.
	CapLoopbackPerAddress bool
	// QBittorrentAddr, if set, is a second listen address (host:port)
	// serving only qBittorrent's WebUI API (/api/v2/), for tools that
	// expect it on a port of its own; the API is served on APIAddr too.
	// Same gates and TLS as APIAddr.
	QBittorrentAddr string
	// Engine is the BitTorrent core: "native" (engine.CoreNative, also
	// when empty) or "anacrolix" (engine.CoreAnacrolix).
	Engine string
	// BindInterface, if set, ties every BitTorrent socket to this network
	// interface, with a kill switch: nothing leaves by another one, and
	// traffic stops while it is down (engine.Config.BindInterface;
	// Linux). The API listener is not affected. Changing it takes a
	// restart.
	BindInterface string
	// BindAddress, if set, is the fixed local address of every BitTorrent
	// socket (engine.Config.BindAddress); no kill switch on its own.
	BindAddress string
	// Blocklists are IP blocklists, file paths and http(s) URLs (fetched
	// under AllowPrivateURLs' rule), in force until session.set changes
	// them; a list stored by session.set replaces them at start.
	Blocklists []string
	// BlocklistRefresh is how often URL blocklists are fetched again (0:
	// blocklist.DefaultRefresh, 24 h; tests shorten it).
	BlocklistRefresh time.Duration
	// Encryption is the MSE/PE policy of peer connections: "prefer"
	// (engine.EncryptionPrefer, also when empty), "require" or "disable"
	// (docs/PRIVACY.md).
	Encryption string
	// Anonymous hides Lodestone's name and version from peers and
	// trackers: the extension handshake, the peer ID, tracker requests
	// and the .torrent and RSS downloads (docs/PRIVACY.md).
	Anonymous bool
	// Configured, if set, are the session.set settings the
	// configuration gives, applied at start when they changed since
	// last applied (see Configured); nil (tests) applies none, and
	// Blocklists are in force until session.set changes them.
	Configured *Configured
	// Logger receives all logs. Nil discards them.
	Logger *slog.Logger
	// Notifier, if set, is told when the daemon is ready and when it
	// stops, and runs its watchdog beside it (notify.go): systemd's
	// sd_notify under a Type=notify unit. Nil tells nobody.
	Notifier Notifier
	// WebhookBackoff, WebhookMaxBackoff and WebhookMaxAge tune the
	// retries of webhook deliveries, for tests: the first wait (doubling),
	// the longest wait, and how long after its first attempt a delivery
	// is retried. Zero is webhook.DefaultBackoff (1 s), DefaultMaxBackoff
	// (1 h) and DefaultMaxAge (24 h); no flag sets them.
	WebhookBackoff, WebhookMaxBackoff, WebhookMaxAge time.Duration
	// TestStallAfterFiles is a hook for crash tests, 0 (off) for any real
	// use: see service.Options.StallAfterFiles. `lodestone serve` reads
	// it from $LODESTONE_TEST_STALL_AFTER_FILES.
	TestStallAfterFiles int
	// Cluster joins the daemon to a Lodestone cluster (issue 20,
	// docs/CLUSTER.md); the zero value is a daemon of its own.
	Cluster cluster.Config
}

// Default returns the configuration of a user's daemon with no flags:
// XDG-style directories, loopback API, DHT, UPnP and uTP on.
func Default() Config {
	return Config{
		APIAddr:     DefaultAPIAddr,
		DataDir:     defaultDataDir(),
		RuntimeDir:  defaultRuntimeDir(),
		DownloadDir: defaultDownloadDir(),
		DHT:         true,
		UPnP:        true,
		UTP:         true,
		Engine:      engine.CoreNative,
		// Blocklist URLs are fetched daily.
		BlocklistRefresh: blocklist.DefaultRefresh,
		Encryption:       engine.EncryptionPrefer,
	}
}

// Validate checks the configuration for mistakes that would fail later.
func (c Config) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		errs = append(errs, fmt.Errorf("api-addr %q: %w", c.APIAddr, err))
	} else if !loopbackHost(host) && c.Token == "" {
		errs = append(errs, fmt.Errorf("api-addr %s is reachable from other machines: give an explicit --token (or LODESTONE_TOKEN) to listen there", c.APIAddr))
	}
	if c.QBittorrentAddr != "" {
		if host, _, err := net.SplitHostPort(c.QBittorrentAddr); err != nil {
			errs = append(errs, fmt.Errorf("qbittorrent-addr %q: %w", c.QBittorrentAddr, err))
		} else if !loopbackHost(host) && c.Token == "" {
			errs = append(errs, fmt.Errorf("qbittorrent-addr %s is reachable from other machines: give an explicit --token (or LODESTONE_TOKEN) to listen there", c.QBittorrentAddr))
		}
	}
	if c.TransmissionAddr != "" {
		if host, _, err := net.SplitHostPort(c.TransmissionAddr); err != nil {
			errs = append(errs, fmt.Errorf("transmission-addr %q: %w", c.TransmissionAddr, err))
		} else if !loopbackHost(host) && c.Token == "" {
			errs = append(errs, fmt.Errorf("transmission-addr %s is reachable from other machines: give an explicit --token (or LODESTONE_TOKEN) to listen there", c.TransmissionAddr))
		}
	}
	if c.Token != "" {
		if err := checkToken(c.Token); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together: give both or neither"))
	}
	if c.PeerAddr != "" {
		if _, _, err := net.SplitHostPort(c.PeerAddr); err != nil {
			errs = append(errs, fmt.Errorf("peer-addr %q: %w", c.PeerAddr, err))
		}
	}
	for _, b := range c.Blocklists {
		if err := blocklist.CheckSource(b); err != nil {
			errs = append(errs, fmt.Errorf("blocklist: %w", err))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir is required"))
	}
	if c.DownloadDir == "" {
		errs = append(errs, errors.New("download-dir is required"))
	}
	if c.DataDir != "" && c.DownloadDir != "" {
		errs = append(errs, checkDataDirApart(c.DataDir, append([]string{c.DownloadDir}, c.DownloadRoots...))...)
	}
	errs = append(errs, c.validateBind()...)
	if c.Proxy != "" {
		if _, err := socks.Parse(c.Proxy); err != nil {
			errs = append(errs, fmt.Errorf("proxy: %w", err))
		}
	}
	switch c.Engine {
	case "", engine.CoreAnacrolix, engine.CoreNative:
	default:
		errs = append(errs, fmt.Errorf("engine %q: want %s or %s", c.Engine, engine.CoreAnacrolix, engine.CoreNative))
	}
	if err := engine.CheckEncryption(c.Encryption); err != nil {
		errs = append(errs, err)
	}
	if c.Cluster.Enabled() {
		if err := c.Cluster.WithDefaults().Validate(); err != nil {
			errs = append(errs, err)
		}
	} else if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validateBind checks --bind-interface and --bind-address.
func (c Config) validateBind() []error {
	var errs []error
	if c.BindInterface != "" {
		if _, err := bindif.Control(c.BindInterface); err != nil {
			errs = append(errs, fmt.Errorf("bind-interface %s: %w", c.BindInterface, err))
		}
	}
	if c.BindAddress != "" {
		if _, err := netip.ParseAddr(c.BindAddress); err != nil {
			errs = append(errs, fmt.Errorf("bind-address %q: %w", c.BindAddress, err))
		}
	}
	return errs
}

// checkDataDirApart refuses every download dir or root that contains the
// data dir, or lies inside it (issue 15, item 2): a torrent's files there
// could overwrite the token, the store or the piece-completion database.
// Paths are compared after resolving their symlinks (of the part that
// exists), so a link to the data dir, or a root that is a link to its
// parent, is caught too. The storage checks again, by device and inode,
// at every open (engine.Config.Protect).
func checkDataDirApart(dataDir string, downloads []string) []error {
	data := realPath(dataDir)
	var errs []error
	for _, d := range downloads {
		dl := realPath(d)
		switch {
		case data == dl || isWithin(dl, data):
			errs = append(errs, fmt.Errorf("data-dir %s must not be inside download dir %s (%s): a torrent could overwrite the daemon's state", dataDir, d, dl))
		case isWithin(data, dl):
			errs = append(errs, fmt.Errorf("download dir %s (%s) must not be inside data-dir %s (%s): a torrent could overwrite the daemon's state", d, dl, dataDir, data))
		}
	}
	return errs
}

// realPath returns p absolute, with the symlinks of its longest existing
// prefix resolved; the rest (not there yet) is joined as written.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	existing, rest := abs, ""
	for {
		if real, err := filepath.EvalSymlinks(existing); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return abs
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
}

func isWithin(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !filepath.IsAbs(rel) && !startsWithDotDot(rel)
}

func startsWithDotDot(rel string) bool {
	return len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator)
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lodestone")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "lodestone")
	}
	return "lodestone-data"
}

func defaultDownloadDir() string {
	if d := os.Getenv("XDG_DOWNLOAD_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "Downloads")
	}
	return "downloads"
}

// loopbackHost reports whether host names only this machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MinTokenLen is the shortest token accepted: 22 characters of the
// URL-safe alphabet (64 symbols) carry 132 bits.
const MinTokenLen = 22

// checkToken refuses a token a stranger could guess: shorter than
// MinTokenLen, or with characters outside A–Z a–z 0–9 - _ (a token also
// travels in URLs and cookies).
func checkToken(tok string) error {
	ok := len(tok) >= MinTokenLen
	for _, r := range tok {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("token too weak: it needs at least %d characters from A-Z, a-z, 0-9, - and _ (128 bits); leave --token and LODESTONE_TOKEN out to have one generated and kept in the data dir", MinTokenLen)
	}
	return nil
}
