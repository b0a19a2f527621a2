// Package engine is Lodestone's only door to BitTorrent: the Engine and
// Torrent interfaces (core.go), over one of two cores. The default is
// Lodestone's own, internal/engine/native (adapted in native_*.go); the
// other is github.com/anacrolix/torrent's client (this file and the rest),
// whose configuration it builds knob by knob. Either way it adds and drops
// torrents, reads their progress, and turns what the core warns about into
// Alerts. Nothing outside this package imports a core.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"

	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// Config is what the daemon decides about the engine.
type Config struct {
	// DownloadDir is where torrent data is written, one folder or file per
	// torrent named after it.
	DownloadDir string
	// StateDir holds the engine's piece-completion database. It must not be
	// inside DownloadDir, where a torrent could overwrite it.
	StateDir string
	// Protect are directories no torrent's file is ever opened in,
	// whatever its path says, compared by device and inode (the daemon's
	// data dir); StateDir always is one. A download dir that lies in one
	// or contains one opens no file (safefs.ErrProtected).
	Protect []string
	// PeerAddr is the BitTorrent listen address, host:port; port 0 picks a
	// free one. An IPv4 host disables IPv6 and vice versa.
	PeerAddr string
	// DHT enables the mainline DHT (and its public bootstrap nodes).
	DHT bool
	// UPnP enables UPnP/NAT-PMP port forwarding.
	UPnP bool
	// UTP enables uTP next to TCP, for both listening and dialling. It is
	// ignored (off) in a binary built without cgo.
	UTP bool
	// AllowPrivateTrackers lets the engine announce to trackers on
	// loopback, private, link-local and CGNAT addresses. Off, such a
	// tracker (named in a torrent or magnet, or reached by DNS or a
	// redirect) is refused at connect time: a stranger's torrent cannot
	// make the daemon send requests into the local network (SSRF).
	AllowPrivateTrackers bool
	// Logger receives the engine's logs; records at or above Warn (and
	// tracker failures) also become Alerts.
	Logger *slog.Logger
	// WriteBuffer is the memory, in bytes, for the chunks of pieces not
	// yet verified, shared by every torrent (writeback.go); 0 writes
	// every chunk through as it arrives. Off by default: on the 2-core
	// bench machine it cost more CPU and memory than it saved
	// (docs/PERFORMANCE.md).
	WriteBuffer int64
	// Core is the BitTorrent implementation: CoreNative (the default
	// when empty) or CoreAnacrolix.
	Core string
	// BindInterface, if set, binds every BitTorrent socket (peer
	// listener, peer connections over TCP and uTP, trackers, DHT) to this
	// network interface (SO_BINDTODEVICE; Linux only), and turns UPnP
	// off. While it is down or has no address nothing is sent, one alert
	// says so and Stats.Network is NetworkDown; traffic resumes by itself
	// when it is back (bind.go; anacrolix_bind.go for that core).
	BindInterface string
	// BindAddress, if set, is the source address of every BitTorrent
	// socket and the listener's host: for a fixed address. Without
	// BindInterface it is no kill switch.
	BindAddress string
	// Proxy, if set, is a SOCKS5 proxy, socks5://[user:pass@]host:port:
	// outgoing peer connections and tracker announces go through it,
	// tracker host names resolved by it, never directly (proxy.go).
	Proxy string
	// ProxyAllowDirect, with Proxy, keeps on what cannot go through it:
	// the listener (incoming peers), the DHT, uTP and UPnP. Off (the
	// default) they are all off, and nothing leaves but through the proxy.
	ProxyAllowDirect bool
	// Blocklist, if set, is the live IP blocklist: a blocked address is
	// never queued or dialled, its incoming connection is refused, and a
	// change of list drops the connections it now blocks, on both cores.
	Blocklist *blocklist.Filter
	// Encryption is the MSE/PE policy of peer connections:
	// EncryptionPrefer (the default when empty), EncryptionRequire or
	// EncryptionDisable (see encryption.go).
	Encryption string
	// Anonymous hides the client's name and version from peers and
	// trackers (see encryption.go).
	Anonymous bool
}

// Engine wraps one anacrolix torrent client. Create it with New; Close it.
type anacrolixEngine struct {
	cl       *torrent.Client
	down, up *rate.Limiter
	pc       storage.PieceCompletion
	alerts   *alertSink
	book     *trackerBook
	log      *slog.Logger

	// newStorage makes file storage in a directory; every instance shares
	// pc (and must never be closed: closing one closes pc).
	newStorage func(dir string) storage.ClientImpl
	defaultDir string
	files      *fileBook   // open torrents' files, for checkpointing
	buffers    *bufferPool // write-back piece buffers of every torrent
	// announces works around the engine announcer's lost wake-ups.
	announces *announceWatchdog
	// udpTrackers are the engine's UDP tracker sockets, closed by Close.
	udpTrackers *packetConns
	// trackerDial, trackerListen and userAgent are the engine's tracker
	// dialer, UDP tracker sockets and user agent, for Reannounce.
	trackerDial   dialFunc
	trackerListen func(network, addr string) (net.PacketConn, error)
	userAgent     string
	// bg runs reannounces; Close ends them.
	bg *background
	// bound is our TCP listener and dialer when bound to an interface or
	// address (nil otherwise); watch follows the interface (nil: none).
	bound *anacrolixBound
	watch *netWatch
	// upnp reports whether the library forwards the peer port (Status).
	upnp bool
	// route is the way through Config.Proxy (nil: none).
	route *proxyRoute
	// blocklist is Config.Blocklist; unwatchBlocklist stops dropping
	// peers on its changes.
	blocklist        *blocklist.Filter
	unwatchBlocklist func()

	// started is the network policy the engine started with; net is
	// what of it may change (anacrolix_net.go).
	started Network
	net     *anacrolixNet

	closeOnce sync.Once
	closeErr  error
}

// MaxAllocPeerRequestDataPerConn bounds the data one peer's requests may have
// in flight on our upload side. The engine's default (1 MiB) was measured to
// stall uploads after about 2 MiB (engine-notes.md); 16 MiB did not stall
// in ~100 runs.
const MaxAllocPeerRequestDataPerConn = 16 << 20

// EstablishedConnsPerTorrent is the most peer connections one torrent
// keeps (the engine's default, set here on purpose).
const EstablishedConnsPerTorrent = 50

// newAnacrolix starts an engine on anacrolix's client.
func newAnacrolix(cfg Config) (*anacrolixEngine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	host, port, err := splitPeerAddr(cfg.PeerAddr)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DownloadDir, 0o755); err != nil {
		return nil, fmt.Errorf("create download dir: %w", err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create engine state dir: %w", err)
	}
	guard, err := protectGuard(cfg)
	if err != nil {
		return nil, err
	}
	// Piece completion: the bolt store, opened by us so that a failure is an
	// error here instead of the engine silently falling back to memory (and
	// downloading everything again after a restart). It lives in the state
	// dir, not beside the data. Pinning it (rather than letting build tags and
	// cgo pick sqlite or bolt) keeps the data dir's format stable. The engine
	// buffers completion and checkpoints it about once a second after
	// flushing the files, so a crash loses at most the last second of
	// verified pieces, never marks unwritten data complete.
	pc, err := storage.NewBoltPieceCompletion(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("open piece completion in %s: %w", cfg.StateDir, err)
	}
	log := cfg.Logger
	// Verified pieces reach the completion store within a second, their
	// files synced first (see checkpointing).
	files := newFileBook()
	files.guard = guard
	pc = newCheckpointing(pc, files, log)
	alerts := newAlertSink()
	book := &trackerBook{}
	engineLog := slog.New(newAlertHandler(log.Handler(), alerts.push, book))

	cc := torrent.NewDefaultClientConfig()
	// Storage: plain files with classic read/write IO, our own
	// (diskStorage): every file is opened through a handle held on the
	// torrent's download dir, so a symbolic link swapped in for a folder
	// later cannot lead a write outside it, and never inside the
	// protected dirs. The engine's file storage opens files by path. Part
	// files are off: with them the engine forgot every verified piece of
	// an unfinished file on restart (0 of 123 kept, engine-notes.md). mmap
	// is off: it dies with SIGBUS on a full disk or a truncated file,
	// where classic IO returns an error we can report.
	// File names are the torrent author's: the layout sanitises them (see
	// SafePaths) and limitedStorage refuses symlinks planted on the way.
	newStorage := func(dir string) storage.ClientImpl {
		return diskStorage{dir: dir, guard: guard, pc: pc}
	}
	cc.DefaultStorage = newStorage(cfg.DownloadDir)
	cc.Slogger = engineLog
	cc.Seed = true
	cc.NoDHT = !cfg.DHT
	cc.PeriodicallyAnnounceTorrentsToDht = cfg.DHT
	cc.NoDefaultPortForwarding = !cfg.UPnP
	cc.DisableUTP = !cfg.UTP || !utpAvailable
	cc.LocalServiceDiscovery = nil // no LAN multicast
	// WebTorrent would reach out to public STUN servers; off. Web seeds
	// are URLs chosen by whoever made the torrent; off (see torrentSpec).
	cc.DisableWebtorrent = true
	cc.DisableWebseeds = true
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort = port
	if ip, err := netip.ParseAddr(host); err == nil {
		cc.DisableIPv6 = ip.Is4()
		cc.DisableIPv4 = ip.Is6() && !ip.Is4In6()
	}
	cc.MaxAllocPeerRequestDataPerConn = MaxAllocPeerRequestDataPerConn
	cc.EstablishedConnsPerTorrent = EstablishedConnsPerTorrent
	// Our own limiters: the default config shares a package-global upload
	// limiter between clients, and a nil download limiter can't be set later.
	cc.UploadRateLimiter = rate.NewLimiter(rate.Inf, MaxAllocPeerRequestDataPerConn)
	cc.DownloadRateLimiter = rate.NewLimiter(rate.Inf, MaxAllocPeerRequestDataPerConn)
	// The engine never closes the UDP tracker clients it makes (one per
	// tracker URL, each with a socket and a goroutine reading it): their
	// sockets are kept here and closed by Close.
	udpTrackers := &packetConns{}
	if !cfg.AllowPrivateTrackers {
		guarded := &net.Dialer{Timeout: 15 * time.Second, Control: netguard.Control}
		cc.TrackerDialContext = guarded.DialContext
		cc.TrackerListenPacket = udpTrackers.listen(func(pc net.PacketConn) net.PacketConn { return netguard.PacketConn(pc) })
	} else {
		cc.TrackerListenPacket = udpTrackers.listen(func(pc net.PacketConn) net.PacketConn { return pc })
	}
	cc.HTTPProxy = nil // no proxy from the environment, which would bypass the guard
	cc.HTTPUserAgent = UserAgent(false)
	// Lodestone's version, not the library's (Version).
	cc.ExtendedHandshakeClientVersion = "Lodestone " + version.Get().Version
	cc.Bep20 = "-LS0001-"
	if err := setEncryption(cc, cfg.Encryption); err != nil {
		return nil, errors.Join(err, pc.Close())
	}
	netPolicy := newAnacrolixNet(cc, cfg.Encryption)
	if cfg.Anonymous {
		if err := setAnonymous(cc); err != nil {
			return nil, errors.Join(err, pc.Close())
		}
	}

	route, err := proxyAnacrolix(cc, cfg, alerts.push, udpTrackers)
	if err != nil {
		return nil, errors.Join(err, pc.Close())
	}
	if cfg.Blocklist != nil {
		cc.IPBlocklist = ipRanger{cfg.Blocklist}
		cc.Callbacks.PeerConnAdded = append(cc.Callbacks.PeerConnAdded, closeBlockedConns(cfg.Blocklist))
	}
	var bound *anacrolixBound
	bind, err := newBinding(cfg)
	if err == nil && bind.active() {
		bound, err = bindAnacrolix(cc, bind, cfg.PeerAddr, !cfg.AllowPrivateTrackers, udpTrackers, route != nil, proxyOnly(cfg))
	}
	if err != nil {
		return nil, errors.Join(err, pc.Close())
	}

	applyGuards(cc) // last: it wraps the tracker dialer and the logger
	cl, err := torrent.NewClient(cc)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start engine: %w", err), bound.close(), pc.Close())
	}
	if route != nil {
		cl.AddDialer(torrent.NetworkDialer{Network: "tcp", Dialer: proxyPeerDialer{route}})
	}
	e := &anacrolixEngine{
		cl: cl, down: cc.DownloadRateLimiter, up: cc.UploadRateLimiter, pc: pc,
		alerts: alerts, book: book, log: log,
		newStorage: newStorage, defaultDir: cfg.DownloadDir, files: files,
		buffers:     newBufferPool(cfg.WriteBuffer),
		announces:   startAnnounceWatchdog(cl, book, log),
		udpTrackers: udpTrackers,
		trackerDial: cc.TrackerDialContext, trackerListen: cc.TrackerListenPacket, userAgent: cc.HTTPUserAgent,
		bg:        newBackground(),
		blocklist: cfg.Blocklist, unwatchBlocklist: watchBlocklist(cl, cfg.Blocklist),
		bound: bound, started: cfg.network(), net: netPolicy,
		upnp:  !cc.NoDefaultPortForwarding,
		route: route,
	}
	if bound != nil {
		bound.attach(cl)
		if bind.iface != "" {
			e.watch = startNetWatch(bind.dev, alerts, log, func(down bool) { bound.setDown(cl, down) })
		}
	}
	return e, nil
}

// packetConns keeps the sockets the engine opens for UDP trackers, to
// close them when the engine closes.
type packetConns struct {
	mu     sync.Mutex
	conns  []net.PacketConn
	closed bool
}

// listen returns a ClientConfig.TrackerListenPacket that opens a socket,
// wraps it, and keeps it.
func (p *packetConns) listen(wrap func(net.PacketConn) net.PacketConn) func(network, addr string) (net.PacketConn, error) {
	return p.listenVia(net.ListenPacket, wrap)
}

// listenVia is listen with the socket opened by open.
func (p *packetConns) listenVia(open func(network, addr string) (net.PacketConn, error), wrap func(net.PacketConn) net.PacketConn) func(network, addr string) (net.PacketConn, error) {
	return func(network, addr string) (net.PacketConn, error) {
		pc, err := open(network, addr)
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			pc.Close()
			return nil, errors.New("engine closed")
		}
		p.conns = append(p.conns, pc)
		return wrap(pc), nil
	}
}

// close closes every socket kept, and any opened later.
func (p *packetConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, pc := range p.conns {
		pc.Close()
	}
	p.conns = nil
}

// Version is the engine release Lodestone is built against.
const Version = "1.62.0"

// splitPeerAddr parses host:port for listening.
func splitPeerAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("peer address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("peer address %q: bad port", addr)
	}
	return host, port, nil
}

// Alerts delivers alerts about the engine and its torrents. The channel is
// bounded; alerts that find it full are counted and dropped, never block
// the engine.
func (e *anacrolixEngine) Alerts() <-chan Alert { return e.alerts.c }

// SetRateLimits caps the engine's total download and upload, in bytes per
// second; 0 means unlimited.
func (e *anacrolixEngine) SetRateLimits(down, up int64) {
	setLimit(e.down, down)
	setLimit(e.up, up)
}

func setLimit(l *rate.Limiter, bps int64) {
	if bps <= 0 {
		l.SetLimit(rate.Inf)
		l.SetBurst(MaxAllocPeerRequestDataPerConn)
		return
	}
	// The burst bounds one read or one uploaded chunk (16 KiB); small
	// enough that short averages stay near the limit.
	l.SetBurst(int(max(16<<10, min(bps/4, 1<<20))))
	l.SetLimit(rate.Limit(bps))
}

// PeerAddrs returns the addresses the engine accepts peers on.
func (e *anacrolixEngine) PeerAddrs() []net.Addr { return e.cl.ListenAddrs() }

// Close stops the engine, flushing piece completion, and closes the
// completion store. Later calls return the first call's result.
func (e *anacrolixEngine) Close() error {
	e.closeOnce.Do(func() {
		e.watch.stop()
		e.unwatchBlocklist()
		e.announces.close()
		e.bg.stop()
		errs := e.cl.Close()
		errs = append(errs, e.bound.close())
		e.udpTrackers.close()
		errs = append(errs, e.pc.Close())
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Add adds the torrent of spec, or returns the one already added. Data
// download starts only when Start is called.
func (e *anacrolixEngine) Add(spec Spec) (Torrent, error) {
	ts, err := torrentSpec(spec)
	if err != nil {
		return nil, err
	}
	dir := spec.DownloadDir
	if dir == "" {
		dir = e.defaultDir
	}
	lim := newLimiters()
	werr := new(atomicError)
	writeFailed := writeFailedFunc(spec.ID, werr, e.alerts.push)
	ts.Storage = limitedStorage{inner: e.newStorage(dir), dir: dir, lim: lim, werr: werr, files: e.files, pc: e.pc, pool: e.buffers, writeFailed: writeFailed}
	var unannounced, withheld []string
	ts.Trackers, withheld = withholdNamedUDP(e.route, ts.Trackers)
	ts.Trackers, unannounced = capTrackers(ts.Trackers, AnacrolixMaxTrackers)
	t, added, err := e.cl.AddTorrentSpec(ts)
	if err != nil {
		return nil, fmt.Errorf("add torrent %s: %w", spec.ID, err)
	}
	if added {
		// Not through the spec: v1.62.0 ignores its DisallowDataDownload,
		// and a FileReader opened before Start would download.
		t.DisallowDataDownload()
	}
	tt := newTorrent(spec.ID, t, werr, writeFailed, e.book)
	tt.lim = lim
	tt.eng = e
	tt.setUnannounced(unannounced, withheld)
	return tt, nil
}

// Torrent is an added torrent. Its methods are safe for concurrent use.
type anacrolixTorrent struct {
	id   string
	t    *torrent.Torrent
	eng  *anacrolixEngine
	book *trackerBook
	lim  *limiters
	werr *atomicError // shared with the torrent's storage
	// files caches the layout of the info once known (it never changes):
	// FileStats runs on every progress poll.
	files atomic.Pointer[layout]
	// name caches the sanitised name: Stats runs on every progress poll.
	name atomic.Pointer[cachedName]
	// allowed is closed, and replaced, each time data download is
	// allowed: a FileReader the engine refused (download not allowed)
	// waits on it.
	allowedMu sync.Mutex
	allowed   chan struct{}
	// unannounced are the trackers past AnacrolixMaxTrackers, not given
	// to the engine; withheld the UDP trackers named by a host name,
	// not given to it behind a proxy (withholdNamedUDP).
	trackersMu  sync.Mutex
	unannounced []string
	withheld    []string
}

// allowedSignal returns a channel closed the next time data download is
// allowed. Take it before the read it is to retry: an allowing in between
// closes it.
func (t *anacrolixTorrent) allowedSignal() <-chan struct{} {
	t.allowedMu.Lock()
	defer t.allowedMu.Unlock()
	if t.allowed == nil {
		t.allowed = make(chan struct{})
	}
	return t.allowed
}

// allowDownload allows data download and wakes the readers waiting for it.
func (t *anacrolixTorrent) allowDownload() {
	t.t.AllowDataDownload()
	t.allowedMu.Lock()
	if t.allowed != nil {
		close(t.allowed)
		t.allowed = nil
	}
	t.allowedMu.Unlock()
}

type cachedName struct{ raw, safe string }

// safeName returns SanitizeName(raw), remembering the last one.
func (t *anacrolixTorrent) safeName(raw string) string {
	if n := t.name.Load(); n != nil && n.raw == raw {
		return n.safe
	}
	n := &cachedName{raw, SanitizeName(raw)}
	t.name.Store(n)
	return n.safe
}

// layout returns the layout of info, computed once per torrent.
func (t *anacrolixTorrent) layout(info *metainfo.Info) *layout {
	if l := t.files.Load(); l != nil {
		return l
	}
	l := newLayout(info)
	t.files.Store(l)
	return l
}

// ID returns the lowercase hex info-hash.
func (t *anacrolixTorrent) ID() string { return t.id }

// GotInfo is closed when the torrent's metadata is known.
func (t *anacrolixTorrent) GotInfo() <-chan struct{} { return t.t.GotInfo() }

// Closed is closed once the torrent is dropped.
func (t *anacrolixTorrent) Closed() <-chan struct{} { return t.t.Closed() }

// Start allows data download of every file at normal priority. Call it
// after GotInfo. It sets file priorities rather than calling the engine's
// DownloadAll, which raises every piece's own priority so that a file
// skipped later would still download.
func (t *anacrolixTorrent) Start() {
	t.SetPriorities(nil)
}

// Stop disallows data download; the torrent still uploads what it has.
func (t *anacrolixTorrent) Stop() {
	t.t.DisallowDataDownload()
}

// Pause stops both download and upload.
func (t *anacrolixTorrent) Pause() {
	t.t.DisallowDataDownload()
	t.t.DisallowDataUpload()
}

// Resume allows upload again; download is allowed again by Start or
// SetPriorities.
func (t *anacrolixTorrent) Resume() {
	t.t.AllowDataUpload()
}

// HasInfo reports whether the metadata is known.
func (t *anacrolixTorrent) HasInfo() bool { return t.t.Info() != nil }

// Verify hashes every piece again, blocking until done or ctx ends. Pieces
// that fail are downloaded again.
func (t *anacrolixTorrent) Verify(ctx context.Context) error {
	select {
	case <-t.t.GotInfo():
	default:
		return nil
	}
	err := t.t.VerifyDataContext(ctx)
	t.kick()
	return err
}

// Files returns the paths, relative to the download dir, of the files of
// the torrent (empty until the metadata is known), pad files left out.
// The storage has already refused any path that escapes the torrent's
// folder.
func (t *anacrolixTorrent) Files() []string {
	info := t.t.Info()
	if info == nil {
		return nil
	}
	safe := t.layout(info).paths
	out := make([]string, len(safe))
	for i, p := range safe {
		out[i] = filepath.FromSlash(p)
	}
	return out
}

// StopUpload disallows upload (download is left as is).
func (t *anacrolixTorrent) StopUpload() { t.t.DisallowDataUpload() }

// Drop removes the torrent from the engine, leaving its files on disk.
func (t *anacrolixTorrent) Drop() { t.t.Drop() }

// MetaInfo returns the bencoded .torrent built from the known info
// dictionary and trackers. Call it after GotInfo.
func (t *anacrolixTorrent) MetaInfo() ([]byte, error) {
	mi := t.t.Metainfo()
	return encodeMetaInfo(&mi)
}

// AddPeers tells the engine about peers to dial, as host:port strings.
func (t *anacrolixTorrent) AddPeers(addrs []string) {
	var ps []torrent.PeerInfo
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || blockedAddr(t.eng.blocklist, ap) {
			continue
		}
		ps = append(ps, torrent.PeerInfo{Addr: ipPortAddr(ap), Source: torrent.PeerSourceDirect, Trusted: true})
	}
	t.t.AddPeers(ps)
}

// Merge adds the trackers and peer addresses (x.pe) of a magnet spec to
// the torrent, for a duplicate add. Nothing else of spec is used.
func (t *anacrolixTorrent) Merge(spec Spec) error {
	if spec.Magnet == "" {
		return nil
	}
	ms, err := torrent.TorrentSpecFromMagnetUri(spec.Magnet)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMagnet, err)
	}
	if len(ms.Trackers) > 0 && len(ms.Trackers[0]) > 0 {
		t.addTrackers(ms.Trackers)
	}
	t.AddPeers(ms.PeerAddrs)
	return nil
}

// WriteError returns the storage error that stops the torrent, or nil: the
// last failed write, or the refusal to open its files (an unsafe path).
func (t *anacrolixTorrent) WriteError() error { return t.werr.Load() }

// ClearWriteError forgets the last storage write error.
func (t *anacrolixTorrent) ClearWriteError() { t.werr.Store(nil) }

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	// HasInfo reports whether the metadata is known; the other size fields
	// are 0 until it is.
	HasInfo bool
	Name    string
	Size    int64
	// Completed is the number of bytes in pieces verified on disk.
	Completed int64
	// Checking reports that pieces are being hashed or queued for it.
	Checking bool
	// Peers is the number of connected peers.
	Peers int
	// BytesRead and BytesWritten count payload data received and sent.
	BytesRead, BytesWritten int64
	// HashFailures counts pieces whose data failed verification.
	HashFailures int64
	// Pieces and PieceSize describe the pieces; 0 without metadata.
	Pieces    int
	PieceSize int64
	// Private reports the info dictionary's private flag (BEP 27).
	Private bool
	// Network is NetworkDown while the interface the engine is bound to
	// is down (Config.BindInterface), "" otherwise.
	Network string
}

// Stats reads the torrent's progress. It is O(number of piece-state runs).
func (t *anacrolixTorrent) Stats() Stats {
	st := Stats{Name: t.safeName(t.t.Name()), Network: t.eng.watch.network()}
	ts := t.t.Stats()
	st.Peers = ts.ActivePeers
	st.BytesRead = ts.BytesReadUsefulData.Int64()
	st.BytesWritten = ts.BytesWrittenData.Int64()
	st.HashFailures = ts.PiecesDirtiedBad.Int64()
	info := t.t.Info()
	if info == nil {
		return st
	}
	st.HasInfo = true
	st.Private = info.Private != nil && *info.Private
	l := t.layout(info)
	st.Size = l.size
	st.Pieces, st.PieceSize = info.NumPieces(), info.PieceLength
	var done []extent
	done, st.Checking = verifiedSpans(t.t.PieceStateRuns(), info.PieceLength)
	st.Completed = l.dataIn(done)
	return st
}

// verifiedSpans returns the byte spans of the verified pieces (the last
// may reach past the torrent's end), and whether any piece is being
// checked.
func verifiedSpans(runs []torrent.PieceStateRun, pieceLen int64) (done []extent, checking bool) {
	index := 0
	for _, run := range runs {
		// A piece whose completion is not known yet is being checked
		// (data found on disk at add or start). A piece just downloaded
		// is hashed too, but its completion is known (not complete):
		// that is downloading, not checking, however long the hash
		// queue on a loaded machine (CI saw "checking" mid-download).
		if (run.Hashing || run.QueuedForHash) && !run.Ok {
			checking = true
		}
		if run.Complete && run.Ok {
			done = append(done, extent{int64(index) * pieceLen, int64(index+run.Length) * pieceLen})
		}
		index += run.Length
	}
	return done, checking
}
