package native

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/bep44"
	analog "github.com/anacrolix/log"
	"golang.org/x/time/rate"
)

const (
	// dhtEveryIncomplete and dhtEveryComplete are how often a torrent
	// asks the DHT for peers and announces itself there: often while it
	// downloads, less once it seeds; both well within the half hour the
	// nodes keep an announce (ours keep it dhtPeerTTL).
	dhtEveryIncomplete = 5 * time.Minute
	dhtEveryComplete   = 15 * time.Minute
	// dhtRetry is how soon a lookup that could not start (no node known
	// yet, the starting nodes unresolvable) is tried again.
	dhtRetry = time.Minute
	// dhtLookupTimeout bounds one lookup with its announces.
	dhtLookupTimeout = 2 * time.Minute
	// dhtMaxPeersPerReply bounds the peers taken from one node's answer.
	dhtMaxPeersPerReply = 100
	// dhtSendRate and dhtSendBurst bound the packets the DHT sends, per
	// second (the library's default, but a limiter of our own: its
	// default is shared by every server in the process).
	dhtSendRate, dhtSendBurst = 250, 25
)

// startDHT runs the DHT node (BEP 5) on pc: the uTP socket, which hands
// it every packet that is not uTP, or a UDP socket of its own. The
// client closes pc itself, after the node.
func (c *Client) startDHT(pc net.PacketConn) error {
	starting := c.cfg.DHTStartingNodes
	if starting == nil {
		starting = func() ([]dht.Addr, error) { return dht.GlobalBootstrapAddrs("udp") }
	}
	s, err := dht.NewServer(&dht.ServerConfig{
		Conn:          dhtConn{pc, c},
		StartingNodes: c.untilClosed(starting),
		PeerStore:     newDHTPeerStore(),
		Store:         noBEP44{},
		Logger:        dhtLogger(c.log.With("component", "dht")),
		SendLimiter:   rate.NewLimiter(dhtSendRate, dhtSendBurst),
	})
	if err != nil {
		return fmt.Errorf("native: DHT: %w", err)
	}
	c.dht = s
	c.wg.Go(s.TableMaintainer) // it bootstraps, then refreshes the table until Close
	return nil
}

// untilClosed calls get but gives up when the client closes: resolving
// the public routers' names has no deadline of its own (the resolution
// then ends in the background), and the node's table maintainer, which
// Close waits for, asks for them.
func (c *Client) untilClosed(get func() ([]dht.Addr, error)) func() ([]dht.Addr, error) {
	return func() ([]dht.Addr, error) {
		type result struct {
			addrs []dht.Addr
			err   error
		}
		got := make(chan result, 1)
		go func() {
			addrs, err := get()
			got <- result{addrs, err}
		}()
		select {
		case r := <-got:
			return r.addrs, r.err
		case <-c.ctx.Done():
			return nil, errClosed
		}
	}
}

// dhtConn is the DHT node's socket; its Close does nothing. The node
// closes its socket at once, from a goroutine, but the uTP connections
// on that socket must go first: the client closes it last (see close).
type dhtConn struct {
	net.PacketConn
	c *Client
}

func (dhtConn) Close() error { return nil }

// errDHTRerouted is what a DHT send gets once the client's route changed
// (SetPolicy): its socket was opened for the old one.
var errDHTRerouted = errors.New("native: the DHT is silent until a restart: the network policy changed")

// WriteTo sends nothing once the policy's route is not the one the
// socket was opened for (SetPolicy): the DHT then falls silent until a
// restart, rather than send outside a new proxy or binding.
func (d dhtConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !d.c.udpRoute() {
		d.c.dhtRefused.Add(1)
		if d.c.onDHTRefused != nil {
			d.c.onDHTRefused(b)
		}
		return 0, errDHTRerouted
	}
	return d.PacketConn.WriteTo(b, addr)
}

// DHTNodes returns how many nodes the DHT's routing table holds; 0 with
// the DHT off.
func (c *Client) DHTNodes() int {
	if c.dht == nil {
		return 0
	}
	return c.dht.NumNodes()
}

// DHTOn reports whether the client runs a DHT node.
func (c *Client) DHTOn() bool { return c.dht != nil }

// dhtLookup walks the DHT toward infoHash and hands the peers the nodes
// know to found, until the walk ends or ctx does. With port non-zero the
// walk ends by announcing us on that port to the closest nodes that
// answered (a cancelled walk announces nothing).
func (c *Client) dhtLookup(ctx context.Context, infoHash [20]byte, port int, found func([]netip.AddrPort)) error {
	var opts []dht.AnnounceOpt
	if port != 0 {
		opts = append(opts, dht.AnnouncePeer(dht.AnnouncePeerOpts{Port: port}))
	}
	// Starting a walk with an empty table waits for the starting nodes
	// (names to resolve): ctx does not wait with it.
	type started struct {
		a   *dht.Announce
		err error
	}
	start := make(chan started, 1)
	go func() {
		a, err := c.dht.AnnounceTraversal(infoHash, opts...)
		start <- started{a, err}
	}()
	var a *dht.Announce
	select {
	case s := <-start:
		if s.err != nil {
			return fmt.Errorf("native: DHT lookup: %w", s.err)
		}
		a = s.a
	case <-ctx.Done():
		go func() {
			if s := <-start; s.a != nil {
				s.a.Close()
			}
		}()
		return ctx.Err()
	}
	defer a.Close()
	for {
		select {
		case v, ok := <-a.Peers:
			if !ok {
				return nil
			}
			peers := v.Peers[:min(len(v.Peers), dhtMaxPeersPerReply)]
			addrs := make([]netip.AddrPort, 0, len(peers))
			for _, p := range peers {
				addrs = append(addrs, addrPortOf(p))
			}
			if len(addrs) > 0 {
				found(addrs)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// dhtLoop finds the torrent's peers through the DHT and announces us
// there: at once, then every dhtEveryIncomplete while it downloads and
// every dhtEveryComplete once it is done (dhtRetry after a lookup that
// could not start, and ±10 % so that torrents added together spread
// out). A paused or failed torrent makes no lookup: Pause ends the one in
// flight, Resume starts one at once. Private torrents never run it.
func (t *Torrent) dhtLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-timer.C:
		case <-t.dhtWake:
			timer.Stop()
		}
		if next, ok := t.dhtAnnounce(); ok {
			timer.Reset(next - next/10 + rand.N(next/5))
		}
	}
}

// dhtAnnounce makes one lookup with its announce and reports when the
// next one is due; ok is false when the torrent is paused or failed (the
// next waits for Resume).
func (t *Torrent) dhtAnnounce() (next time.Duration, ok bool) {
	t.mu.Lock()
	if t.paused || t.err != nil || t.ctx.Err() != nil {
		t.mu.Unlock()
		return 0, false
	}
	ctx, cancel := context.WithTimeout(t.ctx, dhtLookupTimeout)
	t.dhtCancel = cancel // for Pause
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.dhtCancel = nil
		t.mu.Unlock()
		cancel()
	}()
	err := t.c.dhtLookup(ctx, t.meta.InfoHash, int(t.c.Addr().Port()), func(addrs []netip.AddrPort) {
		t.addPeers(addrs, SourceDHT)
	})
	t.mu.Lock()
	paused, failed := t.paused, t.err != nil
	t.mu.Unlock()
	switch {
	case paused || failed || t.ctx.Err() != nil || errors.Is(err, context.Canceled):
		return 0, false // cancelled by a Pause: a Resume wakes the loop
	case errors.Is(err, context.DeadlineExceeded):
		t.log.Debug("DHT lookup cut short", "after", dhtLookupTimeout)
	case err != nil: // no node known yet: the table maintainer warns of that
		t.log.Debug("DHT lookup failed", "err", err)
		return dhtRetry, true
	}
	select {
	case <-t.doneC:
		return dhtEveryComplete, true
	default:
		return dhtEveryIncomplete, true
	}
}

// kickDHT wakes the DHT loop (on Resume).
func (t *Torrent) kickDHT() {
	select {
	case t.dhtWake <- struct{}{}:
	default:
	}
}

// noBEP44 is the DHT node's store of BEP 44 items: it keeps none (we
// need none, and will not hold strangers' data), so puts are refused.
type noBEP44 struct{}

var errNoBEP44 = errors.New("native: no BEP 44 storage")

func (noBEP44) Put(*bep44.Item) error                 { return errNoBEP44 }
func (noBEP44) Get(bep44.Target) (*bep44.Item, error) { return nil, bep44.ErrItemNotFound }
func (noBEP44) Del(bep44.Target) error                { return nil }

// libLogHandler passes an anacrolix library's log records (the DHT's,
// UPnP's) to our logger. The libraries log routine traffic at debug level
// and network trouble (a bootstrap that reached nobody) as errors: those
// are warnings here, both being best effort.
type libLogHandler struct {
	name string
	log  *slog.Logger
}

func (h libLogHandler) Handle(r analog.Record) {
	level := slog.LevelDebug
	switch r.Level {
	case analog.Info:
		level = slog.LevelInfo
	case analog.Warning, analog.Error, analog.Critical:
		level = slog.LevelWarn
	}
	if ctx := context.Background(); h.log.Enabled(ctx, level) {
		h.log.Log(ctx, level, h.name, "detail", r.Msg.String())
	}
}

// libLogger is the logger of the anacrolix library called name, writing
// to l. Unless l takes debug records, the library's are not even
// formatted.
func libLogger(name string, l *slog.Logger) analog.Logger {
	al := analog.NewLogger(name)
	al.SetHandlers(libLogHandler{name, l})
	if !l.Enabled(context.Background(), slog.LevelDebug) {
		al = al.WithFilterLevel(analog.Info)
	}
	return al
}

// dhtLogger is the DHT library's logger writing to l.
func dhtLogger(l *slog.Logger) analog.Logger { return libLogger("dht", l) }
