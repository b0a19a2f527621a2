package native

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/dht/v2"
	utp "github.com/anacrolix/go-utp"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"

	"github.com/lodestone-bt/lodestone/internal/engine/safefs"
)

// Config sets up a Client. The zero value of each field means its
// documented default.
type Config struct {
	// ListenAddr is where peers may connect ("127.0.0.1:0"); "" listens
	// nowhere.
	ListenAddr string
	// PeerID is ours; zero picks a random one with Lodestone's prefix.
	PeerID [20]byte
	// BufferBytes bounds the piece buffers of every torrent together
	// (default 32 MiB, and at least one piece).
	BufferBytes int64
	// MaxPeers bounds each torrent's connections (default 50).
	MaxPeers int
	// UploadSlots is how many peers of a torrent are unchoked at once
	// (default 8, one of them rotating).
	UploadSlots int
	// DialTimeout bounds a connection attempt with its handshake
	// (default 10 s).
	DialTimeout time.Duration
	// Protect, if set, names directories no torrent's file is ever
	// opened in, whatever its path says (the daemon's data dir).
	Protect *safefs.Guard
	// Preallocate reserves a file's blocks when it is created.
	Preallocate bool
	// BufferedWrites writes pieces through the page cache; by default
	// they are written with direct I/O where the filesystem allows (see
	// storage).
	BufferedWrites bool
	// Logger receives the core's logs (default: discarded).
	Logger *slog.Logger
	// OnPieceWritten, if set, is called after each verified piece is
	// written (not yet synced: see Torrent.Sync), from the torrent's
	// writer goroutine; it must not block.
	OnPieceWritten func(infoHash [20]byte, piece int)
	// TrackerDialContext and TrackerListenPacket, if set, make the
	// connections to HTTP and UDP trackers (a guard against trackers in
	// the local network goes here).
	TrackerDialContext  func(ctx context.Context, network, addr string) (net.Conn, error)
	TrackerListenPacket func(network, addr string) (net.PacketConn, error)
	// TrackerProxy, if set, carries every tracker announce in their
	// place, with no host name looked up here (see TrackerProxy).
	TrackerProxy TrackerProxy
	// PeerDialContext, if set, makes the outgoing TCP connections to
	// peers (a SOCKS5 proxy's dialer goes here); uTP is not affected.
	PeerDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// UserAgent is sent to HTTP trackers.
	UserAgent string
	// Encryption is the MSE/PE policy of peer connections: EncryptionPrefer
	// (the default when empty), EncryptionRequire or EncryptionDisable.
	Encryption string
	// Anonymous leaves our name out of what peers see: the extension
	// handshake has no "v" (client name), and a zero PeerID is random
	// through and through, with no client prefix. (The tracker user
	// agent is UserAgent's: the caller picks a generic one.)
	Anonymous bool
	// TrackerTimeout bounds one tracker announce (default 15 s); waiting
	// for a free slot (see announcesInFlight) is not counted.
	TrackerTimeout time.Duration
	// OnAnnounce, if set, is told the outcome of every tracker announce:
	// a torrent's, and a magnet's while it fetches its metadata. It must
	// not block.
	OnAnnounce func(infoHash [20]byte, stat TrackerStat)
	// UTP makes the client speak uTP (BEP 29) besides TCP: it listens for
	// it on a UDP socket with the TCP listener's port number, and dials
	// peers over it when TCP does not reach them (see connect). It needs
	// a ListenAddr, and cgo (go-libutp): a build without cgo leaves uTP
	// off, with a warning logged.
	UTP bool
	// DHT runs a mainline DHT node (BEP 5) on the UDP socket with the TCP
	// listener's port number (the uTP socket when uTP is on): every torrent
	// that is not private finds peers and announces itself there (see
	// dhtLoop), and so does FetchMetadata. It needs a ListenAddr.
	DHT bool
	// DHTStartingNodes gives the nodes the DHT starts from when its
	// routing table is empty; nil means dht.GlobalBootstrapAddrs (the
	// public routers: resolved through DNS, reached over the Internet).
	DHTStartingNodes func() ([]dht.Addr, error)
	// UPnP asks the local network's UPnP gateways to forward the
	// listening port (TCP, and UDP with uTP or the DHT) to us, renewing
	// the mappings hourly and removing them at Close. It needs a
	// ListenAddr.
	UPnP bool
	// Control, if set, runs on every socket the client opens before it
	// is bound or connected: the peer listener, the UDP socket (uTP and
	// the DHT), outgoing peer connections, and trackers' when
	// TrackerDialContext and TrackerListenPacket are not set. The daemon
	// binds them to one network interface with it (SO_BINDTODEVICE).
	Control func(network, address string, c syscall.RawConn) error
	// LocalAddr, if valid, is the source address of outgoing peer
	// connections (--bind-address); the listener's is ListenAddr's.
	LocalAddr netip.Addr
	// Blocklist, if set, is consulted before any peer address is queued
	// or dialled and any incoming connection is read: a blocked address
	// is never dialled and its connection is closed at once; a change of
	// list drops the connections it now blocks (blocklist.go).
	Blocklist Blocklist
}

// Client runs torrents: it owns the listener and the piece buffers.
type Client struct {
	cfg    Config
	log    *slog.Logger
	pool   *bufferPool
	ctx    context.Context
	cancel context.CancelFunc
	ln     net.Listener
	utp    utp.Socket // nil: uTP off
	// udp is the UDP socket on the listener's port: the uTP socket, or
	// the DHT's own; nil when neither is on.
	udp net.PacketConn
	dht *dht.Server // nil: DHT off
	// wg tracks the goroutines Close waits for before it closes the UDP
	// socket: every user of a uTP connection is one (a uTP connection
	// used after its socket closed would touch freed memory in libutp).
	wg sync.WaitGroup
	// udpLoops tracks the goroutines that end only once the UDP socket is
	// closed: the uTP accept loop.
	udpLoops sync.WaitGroup

	// pol is the Policy in force (SetPolicy); polMu serialises its
	// changes, and routes numbers the routes (Policy.route).
	pol    atomic.Pointer[Policy]
	polMu  sync.Mutex
	routes uint64

	// netDown is set while the interface the client is bound to is down
	// (SetNetworkDown): nothing is dialled.
	netDown atomic.Bool
	// dhtRefused counts the DHT's sends refused after a change of route
	// (dhtConn.WriteTo).
	dhtRefused atomic.Int64
	// onDHTRefused, if set (by tests, before the route changes), sees
	// each refused send.
	onDHTRefused func([]byte)

	closeOnce sync.Once
	closeErr  error
	down      limit // rate limits of all torrents together
	up        limit
	// unwatch stops dropBlocked being called on a change of blocklist.
	unwatch func()

	mu sync.Mutex
	// lnPort is the listener's port, kept when it closes (SetPolicy
	// opens the next one on it); ln itself is guarded by mu too.
	lnPort    int
	utpClosed bool // the UDP socket is closed: uTP connections must not be touched
	torrents  map[[20]byte]*Torrent
	// fetching holds, per magnet wanting its metadata (WantMetadata),
	// the peers that connected for it.
	fetching map[[20]byte]chan *peerConn
	arrived  map[[20]byte]func() // WantMetadata's callbacks
	ports    *portForwarder      // nil without UPnP
	// trackers is every tracker's shared state; announces go through it.
	trackers *trackerRegistry
	// starved holds the torrents that found the buffer pool spent: the
	// next buffer returned by any torrent wakes their peers.
	starved map[*Torrent]bool
}

// starve records that t could not pick a piece for want of a buffer of
// n bytes. If one came back meanwhile (its return found nobody starving
// yet), the starving are fed at once. Called with t.mu held.
func (c *Client) starve(t *Torrent, n int) {
	c.mu.Lock()
	c.starved[t] = true
	c.mu.Unlock()
	if c.pool.available(n) {
		c.goTracked(c.feedStarved)
	}
}

// feedStarved wakes the idle peers of every torrent that went without a
// buffer, now that one came back. Called with no lock held.
func (c *Client) feedStarved() {
	c.mu.Lock()
	if len(c.starved) == 0 {
		c.mu.Unlock()
		return
	}
	ts := make([]*Torrent, 0, len(c.starved))
	for t := range c.starved {
		ts = append(ts, t)
	}
	clear(c.starved)
	c.mu.Unlock()
	for _, t := range ts {
		t.kickIdle()
	}
}

// New starts a client.
func New(cfg Config) (*Client, error) {
	if err := CheckEncryption(cfg.Encryption); err != nil {
		return nil, err
	}
	if cfg.Encryption == "" {
		cfg.Encryption = EncryptionPrefer
	}
	if cfg.PeerID == ([20]byte{}) {
		if err := newPeerID(&cfg.PeerID, cfg.Anonymous); err != nil {
			return nil, err
		}
	}
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = 32 << 20
	}
	if cfg.UploadSlots <= 0 {
		cfg.UploadSlots = 8
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = 50
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.TrackerTimeout <= 0 {
		cfg.TrackerTimeout = announceTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: cfg, log: log, pool: newBufferPool(cfg.BufferBytes),
		ctx: ctx, cancel: cancel, torrents: make(map[[20]byte]*Torrent), starved: make(map[*Torrent]bool),
		fetching: make(map[[20]byte]chan *peerConn), arrived: make(map[[20]byte]func()),
		routes: 1,
	}
	pol := policyOf(cfg)
	c.pol.Store(&pol)
	lookup := func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	c.trackers = newTrackerRegistry(c.newTrackerClient, lookup, log)
	c.trackers.setRoute(c.trackerDial(&pol), cfg.TrackerProxy != nil)
	c.unwatch = func() {}
	if cfg.Blocklist != nil {
		c.unwatch = cfg.Blocklist.OnChange(c.dropBlocked)
	}
	if cfg.ListenAddr == "" {
		if cfg.UTP || cfg.DHT || cfg.UPnP {
			cancel()
			return nil, errors.New("native: uTP, the DHT and UPnP need a ListenAddr")
		}
		return c, nil
	}
	if err := c.listen(); err != nil {
		if cfg.Control == nil || !errors.Is(err, syscall.ENODEV) {
			cancel()
			return nil, err
		}
		// Bound to an interface that does not exist (yet: a VPN's):
		// nothing listens until SetNetworkDown(false) says it is
		// there; uTP and the DHT stay off.
		log.Warn("bound interface missing: no peer listener until it appears", "err", err)
		return c, nil
	}
	if cfg.DHT {
		if err := c.startDHT(c.udp); err != nil {
			cancel()
			return nil, errors.Join(err, c.ln.Close(), c.udp.Close())
		}
	}
	ln := c.ln
	_, sport, _ := net.SplitHostPort(ln.Addr().String())
	fmt.Sscan(sport, &c.lnPort)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.acceptLoop(ln)
	}()
	if c.utp != nil {
		c.udpLoops.Add(1)
		go func() {
			defer c.udpLoops.Done()
			c.acceptLoop(c.utp)
		}()
	}
	if cfg.UPnP {
		c.ports = c.startPortForwarding()
	}
	return c, nil
}

// Addr returns the listener's address, or an invalid one if none.
func (c *Client) Addr() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(c.ln.Addr().String())
	return ap
}

// Close stops every torrent and the listeners. It is idempotent: later
// calls return the first one's error.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

// close stops everything in order: no new goroutine is tracked once the
// context is cancelled (under mu); the torrents, then every tracked
// goroutine end; only then is the UDP socket closed.
func (c *Client) close() error {
	c.unwatch()
	c.mu.Lock()
	c.cancel()
	c.mu.Unlock()
	var errs []error
	c.mu.Lock()
	if c.ln != nil {
		errs = append(errs, c.ln.Close())
	}
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		errs = append(errs, t.Close())
	}
	if c.dht != nil {
		c.dht.Close()
	}
	c.wg.Wait()
	c.trackers.close()
	if c.ports != nil {
		c.ports.wait() // the gateways told to unmap us, while the sockets still exist
	}
	if c.udp != nil {
		c.mu.Lock()
		c.utpClosed = true
		errs = append(errs, c.udp.Close())
		c.mu.Unlock()
	}
	c.udpLoops.Wait()
	return errors.Join(errs...)
}

// Add starts downloading a torrent. Pieces already on disk are not
// looked for: the download starts from nothing (see AddPaused).
func (c *Client) Add(m Meta) (*Torrent, error) { return c.add(m, false) }

// AddPaused adds a torrent without any traffic, so that the caller can
// first tell it what it has (Verify, MarkVerified) and set priorities;
// Resume starts it. Its trackers hear of it only then, with the right
// "left".
func (c *Client) AddPaused(m Meta) (*Torrent, error) { return c.add(m, true) }

// goTracked runs fn in a goroutine that Close waits for, and reports
// true, unless the client is closing.
func (c *Client) goTracked(fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
	return true
}

func (c *Client) add(m Meta, paused bool) (*Torrent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx.Err() != nil {
		return nil, errClosed
	}
	if _, ok := c.torrents[m.InfoHash]; ok {
		return nil, fmt.Errorf("native: torrent %x already added", m.InfoHash)
	}
	t := newTorrent(c, m)
	t.mu.Lock()
	t.paused = paused
	t.mu.Unlock()
	c.torrents[m.InfoHash] = t
	t.spawn(t.announceLoop)
	if c.dht != nil && !m.Private {
		t.spawn(t.dhtLoop)
	}
	return t, nil
}

func (c *Client) forget(t *Torrent) {
	c.mu.Lock()
	delete(c.starved, t)
	if c.torrents[t.meta.InfoHash] == t {
		delete(c.torrents, t.meta.InfoHash)
	}
	c.mu.Unlock()
}

// ourBits are the reserved bits we send: the fast extension (BEP 6) and
// the extension protocol (BEP 10).
func ourBits() pp.PeerExtensionBits {
	return pp.NewPeerExtensionBytes(pp.ExtensionBitFast, pp.ExtensionBitLtep)
}

func (c *Client) serveIncoming(conn net.Conn) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
	defer cancel()
	pol := c.policy() // the connection is made under it
	br := bufio.NewReaderSize(deadlineConn{conn}, readBufferSize)
	var rw io.ReadWriter = struct {
		io.Reader
		io.Writer
	}{br, conn}
	var r io.Reader = br // reused by the peer as it is
	var w io.Writer = conn
	crypto := CryptoPlaintext
	head, err := br.Peek(len(pp.Protocol))
	switch {
	case err != nil:
		conn.Close()
		return
	case string(head) == pp.Protocol && pol.Encryption == EncryptionRequire:
		c.log.Debug("plaintext peer refused: encryption required", "peer", conn.RemoteAddr())
		conn.Close()
		return
	case string(head) == pp.Protocol:
	case pol.Encryption == EncryptionDisable:
		c.log.Debug("encrypted peer refused: encryption disabled", "peer", conn.RemoteAddr())
		conn.Close()
		return
	default:
		// Not a plain handshake: an encrypted one (MSE/PE), as aria2
		// and libtorrent try first. Without it aria2 drops the
		// connection and comes back in plain a second later.
		var method mse.CryptoMethod
		if rw, method, err = c.receiveEncrypted(ctx, rw, pol); err != nil {
			c.log.Debug("encrypted handshake failed", "peer", conn.RemoteAddr(), "err", err)
			conn.Close()
			return
		}
		r, w, crypto = rw, rw, cryptoName(method)
	}
	res, err := pp.Handshake(ctx, rw, nil, pol.peerID, ourBits())
	if err != nil {
		conn.Close()
		return
	}
	c.mu.Lock()
	t := c.torrents[res.Hash]
	c.mu.Unlock()
	if t == nil && c.takeForMetadata(&peerConn{conn: conn, r: r, w: w, res: res, crypto: crypto, pol: pol}) {
		return // a magnet's metadata fetch asks it
	}
	addr, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	if t == nil || !t.admit(addr, res.PeerID) {
		conn.Close()
		return
	}
	t.runPeer(conn, r, w, addr, res, crypto, true, pol)
}

// receiveEncrypted answers an MSE/PE handshake (BEP 8's encryption, as
// every major client speaks it) for any of our torrents, choosing the
// method after it as the policy says (cryptoSelector).
func (c *Client) receiveEncrypted(ctx context.Context, rw io.ReadWriter, pol *Policy) (io.ReadWriter, mse.CryptoMethod, error) {
	c.mu.Lock()
	keys := make([][]byte, 0, len(c.torrents)+len(c.fetching))
	for ih := range c.torrents {
		keys = append(keys, bytes.Clone(ih[:]))
	}
	for ih := range c.fetching {
		keys = append(keys, bytes.Clone(ih[:]))
	}
	c.mu.Unlock()
	skeys := func(yield func([]byte) bool) {
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
	rw, method, err := mse.ReceiveHandshake(ctx, rw, skeys, cryptoSelector(pol.Encryption))
	if err != nil {
		return nil, 0, fmt.Errorf("native: MSE handshake: %w", err)
	}
	return rw, method, nil
}

// Peer sources: how the torrent learned of a peer's address.
const (
	SourceDirect   = "direct" // given by the caller (AddPeers)
	SourceTracker  = "tracker"
	SourcePex      = "pex"
	SourceDHT      = "dht"
	SourceIncoming = "incoming" // it dialed us
)

// AddPeers gives the torrent addresses to connect to, up to its
// connection bound; the rest wait until a connection ends.
func (t *Torrent) AddPeers(addrs []netip.AddrPort) { t.addPeers(addrs, SourceDirect) }

// addPeers adds addresses learned from source.
func (t *Torrent) addPeers(addrs []netip.AddrPort, source string) {
	t.mu.Lock()
	for _, a := range addrs {
		if !a.IsValid() || t.c.refused(a.Addr()) {
			continue // blocklisted: never queued
		}
		if _, ok := t.seen[a]; !ok && len(t.seen) < maxKnownPeers && a.Port() != 0 {
			t.seen[a] = source
			t.known = append(t.known, a)
		}
	}
	t.mu.Unlock()
	t.spawn(t.dialMore)
}

// Redials: a peer that could not be reached, or whose connection ended,
// is dialed again after 5 s, then 20 s, then 80 s, then given up; a
// connection that was useful resets the count.
const (
	redialFirst = 5 * time.Second
	maxRedials  = 3
)

// redialLater puts addr back among the addresses to dial after a backoff,
// unless it was banned, the torrent is done downloading, or it failed too
// often. err is how its last connection ended (nil: it ran and closed).
func (t *Torrent) redialLater(addr netip.AddrPort, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil || t.banned[addr.Addr()] || t.nhave == len(t.meta.Hashes) || errors.Is(err, errBanned) || errors.Is(err, errBlocked) {
		return
	}
	n := t.redials[addr]
	if n >= maxRedials {
		return
	}
	t.redials[addr] = n + 1
	time.AfterFunc(redialFirst<<(2*n), func() {
		t.mu.Lock()
		if t.ctx.Err() == nil && !t.banned[addr.Addr()] {
			t.known = append(t.known, addr)
		}
		t.mu.Unlock()
		t.spawn(t.dialMore)
	})
}

// maxKnownPeers bounds the addresses a torrent remembers (trackers and
// peer exchange can offer any number).
const maxKnownPeers = 2000

// spawn runs fn in a goroutine that Close waits for, unless the torrent
// is closing.
func (t *Torrent) spawn(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.spawnLocked(fn)
}

// spawnLocked is spawn with t.mu held.
func (t *Torrent) spawnLocked(fn func()) {
	if t.ctx.Err() != nil {
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
}

// dialMore dials known addresses while there is room.
func (t *Torrent) dialMore() {
	for {
		t.mu.Lock()
		if t.ctx.Err() != nil || t.err != nil || t.paused || t.c.netDown.Load() || len(t.known) == 0 || len(t.peers)+len(t.dialing) >= t.c.cfg.MaxPeers {
			t.mu.Unlock()
			return
		}
		addr := t.known[0]
		t.known = t.known[1:]
		skip := t.banned[addr.Addr()] || t.dialing[addr] || t.connectedLocked(addr) || addr == t.c.Addr()
		if !skip {
			t.dialing[addr] = true
			t.spawnLocked(func() {
				err := t.dial(addr)
				if err != nil {
					t.log.Debug("peer connection failed", "peer", addr, "err", err)
				}
				t.redialLater(addr, err)
			})
		}
		t.mu.Unlock()
	}
}

func (t *Torrent) connectedLocked(addr netip.AddrPort) bool {
	for p := range t.peers {
		if p.addr == addr {
			return true
		}
	}
	return false
}

func (t *Torrent) dial(addr netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.c.cfg.DialTimeout)
	defer cancel()
	pc, err := t.c.connect(ctx, addr, t.meta.InfoHash)
	t.mu.Lock()
	delete(t.dialing, addr)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	if !t.admit(addr, pc.res.PeerID) {
		pc.conn.Close()
		return errBanned
	}
	if t.runPeer(pc.conn, pc.r, pc.w, addr, pc.res, pc.crypto, false, pc.pol) > 0 {
		t.mu.Lock()
		delete(t.redials, addr) // it was useful: the backoff starts over
		t.mu.Unlock()
	}
	return nil
}

// admit decides whether a handshaken peer may join.
func (t *Torrent) admit(addr netip.AddrPort, id [20]byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ctx.Err() == nil && !t.paused && !t.banned[addr.Addr()] && len(t.peers) < t.c.cfg.MaxPeers && id != t.c.policy().peerID
}

// runPeer speaks to a handshaken peer until the connection ends. r and
// w are the stream after the handshake: the connection itself (w is then
// conn, for gathered writes), or its MSE layer; crypto names its
// encryption (Crypto*).
func (t *Torrent) runPeer(conn net.Conn, r io.Reader, w io.Writer, addr netip.AddrPort, res pp.HandshakeResult, crypto string, incoming bool, pol *Policy) (downloaded int64) {
	// A *bufio.Reader of this size is reused as it is, with what it has
	// buffered.
	br := bufio.NewReaderSize(r, readBufferSize)
	p := newPeer(t, conn, addr, br, res.SupportsFast(), res.SupportsExtended())
	p.w = w
	p.network = networkOf(conn)
	if p.network == NetworkUTP {
		p.w = bufio.NewWriterSize(w, utpWriteBuffer)
	}
	p.incoming = incoming
	p.crypto = crypto
	p.pol = pol
	t.mu.Lock()
	p.source = SourceIncoming
	if src, ok := t.seen[addr]; ok && !incoming {
		p.source = src
	}
	// A policy set since the connection was made (SetPolicy) may refuse
	// it; one set from now on finds it in t.peers.
	if t.ctx.Err() != nil || t.paused || t.c.policy().breaks(pol, crypto) {
		t.mu.Unlock()
		conn.Close()
		return 0
	}
	t.peers[p] = struct{}{}
	t.wg.Add(1) // Close waits for incoming peers too
	t.mu.Unlock()
	select {
	case t.joined <- struct{}{}:
	default:
	}
	defer t.wg.Done()
	err := p.run()
	t.log.Debug("peer gone", "peer", addr, "err", err)
	return p.downloaded.Load()
}

// announced tells OnAnnounce the outcome of an announce to url, and
// returns it as a TrackerStat. retry is when a tracker that did not
// answer may be tried again (zero: retryAnnounce from now).
func (c *Client) announced(infoHash [20]byte, url string, res tracker.AnnounceResponse, retry time.Time, err error) TrackerStat {
	now := time.Now()
	st := TrackerStat{URL: url, LastAnnounce: now, Seeders: -1, Leechers: -1, NextAnnounce: later(now.Add(retryAnnounce), retry)}
	if err != nil {
		st.LastError = err.Error()
	} else {
		st.Seeders, st.Leechers = int(res.Seeders), int(res.Leechers)
		st.NextAnnounce = now.Add(max(time.Duration(res.Interval)*time.Second, minAnnounceEvery))
	}
	if fn := c.cfg.OnAnnounce; fn != nil {
		fn(infoHash, st)
	}
	return st
}

// announceRequest sends one announce to the tracker at url, through the
// tracker registry: with wait, it may wait for a slot while ctx allows
// (without, it fails with errTrackerBusy instead); it fails at
// once (ErrTrackerBackoff) while the tracker backs off. timeout bounds the
// announce once sent. retry is as for announced.
func (c *Client) announceRequest(ctx context.Context, url string, wait bool, req tracker.AnnounceRequest, timeout time.Duration) (res tracker.AnnounceResponse, retry time.Time, err error) {
	return c.trackers.announce(ctx, url, wait, req, tracker.AnnounceOpt{UserAgent: c.policy().UserAgent}, timeout)
}

// newTrackerClient makes the client of one tracker: an HTTP one with its
// own transport (no keep-alive) dialling through dial, or a UDP one with
// its own socket.
func (c *Client) newTrackerClient(url string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (tracker.Client, error) {
	target, listen, err := c.proxiedUDPTracker(url)
	if err != nil {
		return nil, err
	}
	return tracker.NewClient(target, tracker.NewClientOpts{
		Http:         trHttp.NewClientOpts{DialContext: dial},
		Slogger:      c.log.With("tracker", url),
		ListenPacket: listen,
	})
}
