package engine

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/native"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// NativeCompletionFile is the native core's piece-completion database in
// Config.StateDir: one bitfield of verified pieces per torrent, written
// only after the pieces' files were synced.
const NativeCompletionFile = "native-completion.db"

// nativeEngine runs torrents on Lodestone's own core (internal/engine/native).
type nativeEngine struct {
	cl         *native.Client
	alerts     *alertSink
	log        *slog.Logger
	defaultDir string
	done       *store.Completion

	addMu    sync.Mutex // one Add at a time
	mu       sync.Mutex
	torrents map[string]*nativeTorrent // by ID
	// read and written count the payload of torrents dropped since the
	// engine started, for Totals.
	read, written atomic.Int64
	// watch follows the bound interface (nil: not bound).
	watch *netWatch
	// started is the network policy the engine started with; cfg the
	// whole configuration, and upnp whether port forwarding runs.
	started Network
	cfg     Config
	upnp    bool
	// netMu serialises SetNetwork; cur is the policy it last applied.
	netMu sync.Mutex
	cur   Network

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func newNative(cfg Config) (*nativeEngine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if _, _, err := splitPeerAddr(cfg.PeerAddr); err != nil {
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
	done, err := store.OpenCompletion(filepath.Join(cfg.StateDir, NativeCompletionFile))
	if err != nil {
		return nil, err
	}
	e := &nativeEngine{
		alerts: newAlertSink(), log: cfg.Logger, defaultDir: cfg.DownloadDir, done: done,
		torrents: make(map[string]*nativeTorrent), stop: make(chan struct{}),
		started: cfg.network(),
	}
	e.cfg, e.cur = cfg, cfg.network()
	coreLog := slog.New(newAlertHandler(cfg.Logger.Handler(), e.alerts.push, &trackerBook{}))
	ncfg := native.Config{
		Logger:         coreLog,
		Preallocate:    true,
		Protect:        guard,
		OnPieceWritten: e.pieceWritten,
		OnAnnounce:     e.announced,
		// uTP needs cgo (libutp): a binary built without it speaks TCP
		// only, as the other core does.
		UTP: cfg.UTP && utpAvailable,
		// The DHT starts from its public routers (DHTStartingNodes nil):
		// only ever on in production, off in every test.
		DHT: cfg.DHT,
		// UPnP/NAT-PMP port forwarding: UPnP here (NAT-PMP is not
		// spoken); off in every test.
		UPnP: cfg.UPnP,
	}
	bind, err := nativeNetwork(&ncfg, cfg, e.alerts.push)
	if err != nil {
		return nil, errors.Join(err, done.Close())
	}
	if cfg.WriteBuffer > 0 {
		ncfg.BufferBytes = cfg.WriteBuffer
	}
	if cfg.Blocklist != nil { // never a typed nil in the interface
		ncfg.Blocklist = cfg.Blocklist
	}
	e.upnp = ncfg.UPnP
	e.cl, err = native.New(ncfg)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start engine: %w", err), done.Close())
	}
	e.wg.Add(1)
	go e.checkpointLoop()
	if bind.iface != "" {
		e.watch = startNetWatch(bind.dev, e.alerts, e.log, e.cl.SetNetworkDown)
	}
	return e, nil
}

func (e *nativeEngine) Alerts() <-chan Alert { return e.alerts.c }

func (e *nativeEngine) SetRateLimits(down, up int64) { e.cl.SetRateLimits(down, up) }

func (e *nativeEngine) PeerAddrs() []net.Addr {
	var out []net.Addr
	if ap := e.cl.Addr(); ap.IsValid() {
		out = append(out, net.TCPAddrFromAddrPort(ap))
	}
	if ap := e.cl.UTPAddr(); ap.IsValid() {
		out = append(out, net.UDPAddrFromAddrPort(ap))
	}
	return out
}

func (e *nativeEngine) Totals() Totals {
	tot := Totals{BytesRead: e.read.Load(), BytesWritten: e.written.Load()}
	for _, t := range e.list() {
		st := t.Stats()
		tot.BytesRead += st.BytesRead
		tot.BytesWritten += st.BytesWritten
		tot.Peers += st.Peers
		tot.BytesHashed += t.hashed.Load()
	}
	return tot
}

func (e *nativeEngine) list() []*nativeTorrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*nativeTorrent, 0, len(e.torrents))
	for _, t := range e.torrents {
		out = append(out, t)
	}
	return out
}

func (e *nativeEngine) Close() error {
	e.closeOnce.Do(func() {
		e.netMu.Lock() // no SetNetwork replaces the watch meanwhile
		e.watch.stop()
		e.netMu.Unlock()
		close(e.stop)
		e.wg.Wait()
		// One record of every torrent's pieces, then drops that have
		// nothing left to record.
		e.checkpoint()
		var errs []error
		for _, t := range e.list() {
			t.Drop()
		}
		errs = append(errs, e.cl.Close(), e.done.Close())
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Add adds the torrent of spec, or returns the one already added.
func (e *nativeEngine) Add(spec Spec) (Torrent, error) {
	ts, err := torrentSpec(spec)
	if err != nil {
		return nil, err
	}
	// Adds are one at a time, but not under e.mu: loading a torrent reads
	// the completion store and the files, and the core's writers must not
	// wait for that to report their pieces.
	e.addMu.Lock()
	defer e.addMu.Unlock()
	e.mu.Lock()
	t := e.torrents[spec.ID]
	e.mu.Unlock()
	if t != nil {
		return t, nil
	}
	select {
	case <-e.stop:
		return nil, errors.New("add torrent: engine closed")
	default:
	}
	dir := spec.DownloadDir
	if dir == "" {
		dir = e.defaultDir
	}
	t, err = newNativeTorrent(e, spec, ts, dir)
	if err != nil {
		return nil, fmt.Errorf("add torrent %s: %w", spec.ID, err)
	}
	e.mu.Lock()
	e.torrents[spec.ID] = t
	e.mu.Unlock()
	t.dirty.Store(true) // pieces written before it was found by ID
	t.startFetch()
	return t, nil
}

// forget removes a dropped torrent, counting its traffic in the totals.
func (e *nativeEngine) forget(t *nativeTorrent, read, written int64) {
	e.mu.Lock()
	if e.torrents[t.id] == t {
		delete(e.torrents, t.id)
	}
	e.mu.Unlock()
	e.read.Add(read)
	e.written.Add(written)
}

// pieceWritten is the core's report of a verified piece on disk (not yet
// synced): the torrent's readers may go on, and the next checkpoint
// records it.
func (e *nativeEngine) pieceWritten(ih [20]byte, piece int) {
	e.mu.Lock()
	t := e.torrents[hex.EncodeToString(ih[:])]
	e.mu.Unlock()
	if t != nil {
		t.pieceWritten(piece)
	}
}

// announced is the core's report of an announce, for the torrent's
// tracker status (also while a magnet fetches its metadata).
func (e *nativeEngine) announced(ih [20]byte, st native.TrackerStat) {
	e.mu.Lock()
	t := e.torrents[hex.EncodeToString(ih[:])]
	e.mu.Unlock()
	if t != nil {
		t.announced(st)
	}
}

// checkpointLoop records verified pieces within CheckpointInterval.
func (e *nativeEngine) checkpointLoop() {
	defer e.wg.Done()
	tick := time.NewTicker(CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
			e.checkpoint()
		}
	}
}

// checkpoint records the piece completion of every torrent that wrote
// pieces since its last record, once their files are synced, in one
// transaction: with thousands of torrents (all dirty after a start), one
// fsync rather than one each.
func (e *nativeEngine) checkpoint() {
	var synced []*nativeTorrent
	bits := map[string][]byte{}
	for _, t := range e.list() {
		if b, ok := t.syncForRecord(); ok {
			synced = append(synced, t)
			bits[t.id] = b
		}
	}
	if err := e.done.PutMany(bits); err != nil {
		e.log.Error("record piece completion", "torrents", len(bits), "err", err)
		for _, t := range synced {
			t.dirty.Store(true)
		}
	}
}

// nativeNetwork sets the network part of ncfg as cfg says: the listener
// and every socket bound to cfg's interface or address, trackers behind
// the private-address guard, the proxy (which, proxy-only, turns off
// the listener, the DHT, uTP and UPnP), encryption and anonymity. UPnP's
// multicast would leave by any interface: off when bound.
func nativeNetwork(ncfg *native.Config, cfg Config, push func(Alert)) (binding, error) {
	bind, err := newBinding(cfg)
	if err != nil {
		return bind, err
	}
	peerAddr, err := bind.peerAddr(cfg.PeerAddr)
	if err != nil {
		return bind, err
	}
	dial, listenPacket := bind.trackerSockets(!cfg.AllowPrivateTrackers)
	ncfg.ListenAddr = peerAddr
	ncfg.Control = bind.control
	ncfg.LocalAddr = bind.local
	ncfg.TrackerDialContext = capTrackerReads(dial, MaxTrackerResponse)
	ncfg.TrackerListenPacket = listenPacket
	ncfg.UserAgent = UserAgent(cfg.Anonymous)
	ncfg.Encryption = cfg.Encryption
	ncfg.Anonymous = cfg.Anonymous
	ncfg.PeerDialContext, ncfg.TrackerProxy = nil, nil
	ncfg.UPnP = ncfg.UPnP && !bind.active()
	return bind, proxyNative(ncfg, cfg, push)
}

// SetNetwork applies n to the native core while it runs: encryption and
// anonymity on new connections and the next announce; the binding and
// the proxy by a new route (native.Client.SetPolicy: peers dropped and
// dialled again through it, the TCP listener opened again or closed,
// trackers reached the new way) and a new watch of the bound interface.
// The UDP socket (uTP, the DHT) and UPnP are not reopened: when they
// run, the binding and proxy settings stay pending a restart (uTP is
// off and the DHT silent meanwhile: native.Client.SetPolicy).
func (e *nativeEngine) SetNetwork(n Network) []string {
	e.netMu.Lock()
	defer e.netMu.Unlock()
	n = n.normal()
	cfg := e.cfg
	cfg.BindInterface, cfg.BindAddress = n.BindInterface, n.BindAddress
	cfg.Proxy, cfg.ProxyAllowDirect = n.Proxy, n.ProxyAllowDirect
	cfg.Encryption, cfg.Anonymous = n.Encryption, n.Anonymous
	var ncfg native.Config
	bind, err := nativeNetwork(&ncfg, cfg, e.alerts.push)
	if err != nil {
		// Validated by the caller: should it fail anyway, nothing
		// changes.
		e.log.Error("network settings not applied", "err", err)
		return pending(e.started, n)
	}
	routeChanged := n.BindInterface != e.cur.BindInterface || n.BindAddress != e.cur.BindAddress ||
		n.Proxy != e.cur.Proxy || n.ProxyAllowDirect != e.cur.ProxyAllowDirect
	pol := native.Policy{
		ListenAddr: ncfg.ListenAddr, Control: ncfg.Control, LocalAddr: ncfg.LocalAddr,
		PeerDialContext: ncfg.PeerDialContext, TrackerDialContext: ncfg.TrackerDialContext,
		TrackerListenPacket: ncfg.TrackerListenPacket, TrackerProxy: ncfg.TrackerProxy,
		UserAgent: ncfg.UserAgent, Encryption: ncfg.Encryption, Anonymous: ncfg.Anonymous,
	}
	if n.BindInterface != e.cur.BindInterface {
		// The old watch's word on the network is void; the new one
		// gives its own at once.
		e.watch.stop()
		e.watch = nil
		e.cl.SetNetworkDown(false)
	}
	if err := e.cl.SetPolicy(pol, routeChanged); err != nil {
		e.alerts.push(Alert{Level: LevelWarning, Message: fmt.Sprintf("the peer listener could not be opened under the new network settings; incoming peers are refused until it can be: %v", err)})
	}
	if n.BindInterface != e.cur.BindInterface && bind.iface != "" {
		e.watch = startNetWatch(bind.dev, e.alerts, e.log, e.cl.SetNetworkDown)
	}
	e.cur = n
	live := []string{SettingEncryption, SettingAnonymous}
	if !e.cl.HasUDP() && !e.upnp {
		live = append(live, SettingBindInterface, SettingBindAddress, SettingProxy, SettingProxyOnly)
	}
	return pending(e.started, n, live...)
}
