package native

import (
	"bytes"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	"golang.org/x/time/rate"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// dhtNode is a plain DHT node on loopback, the bootstrap node of the
// clients under test; it records the queries it gets.
type dhtNode struct {
	s       *dht.Server
	mu      sync.Mutex
	queries []dhtQuery
}

// dhtQuery is a query a node got: its name, info-hash and port.
type dhtQuery struct {
	q        string
	infoHash [20]byte
	port     int
}

func startDHTNode(t *testing.T) *dhtNode {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &dhtNode{}
	n.s, err = dht.NewServer(&dht.ServerConfig{
		Conn:        pc,
		PeerStore:   newDHTPeerStore(),
		Store:       noBEP44{},
		Logger:      dhtLogger(testLogger()),
		SendLimiter: rate.NewLimiter(dhtSendRate, dhtSendBurst),
		OnQuery: func(m *krpc.Msg, _ net.Addr) bool {
			if m.A != nil {
				q := dhtQuery{q: m.Q, infoHash: m.A.InfoHash}
				if m.A.Port != nil {
					q.port = *m.A.Port
				}
				n.mu.Lock()
				n.queries = append(n.queries, q)
				n.mu.Unlock()
			}
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.s.Close)
	return n
}

// starting is a Config.DHTStartingNodes: this node.
func (n *dhtNode) starting() ([]dht.Addr, error) {
	return []dht.Addr{dht.NewAddr(n.s.Addr())}, nil
}

// asked reports whether any query about infoHash came.
func (n *dhtNode) asked(infoHash [20]byte) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, q := range n.queries {
		if q.infoHash == infoHash {
			return true
		}
	}
	return false
}

// waitAnnounce waits until a peer on port announced itself for infoHash.
func (n *dhtNode) waitAnnounce(t *testing.T, infoHash [20]byte, port uint16) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n.mu.Lock()
		for _, q := range n.queries {
			if q.q == "announce_peer" && q.infoHash == infoHash && q.port == int(port) {
				n.mu.Unlock()
				return
			}
		}
		n.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no announce for %x on port %d within 30 s", infoHash, port)
		}
	}
}

// A swarm found through the DHT alone (a plain bootstrap node, a native
// seeder and native leechers on loopback, no tracker, no peer given): a
// leecher downloads everything, a magnet gets its metadata and data, and
// a private torrent is never looked up nor announced, a paused one waits
// for Resume. With uTP on, the DHT shares the uTP socket.
func TestDHT(t *testing.T) {
	for _, withUTP := range []bool{false, true} {
		name := "own socket"
		if withUTP {
			name = "uTP socket"
		}
		t.Run(name, func(t *testing.T) { testDHT(t, withUTP) })
	}
}

func testDHT(t *testing.T, withUTP bool) {
	node := startDHTNode(t)
	cfg := Config{DHT: true, UTP: withUTP, DHTStartingNodes: node.starting}
	tr := enginetest.Generate(t, enginetest.MultiFile(91))
	priv := enginetest.Generate(t, enginetest.Content{Name: "private.bin", Size: 300_000, Seed: 92})
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 100_000, Seed: 93})
	sc := newClient(t, cfg)
	if withUTP && sc.utp == nil {
		t.Skip("no uTP in this build (cgo off)")
	}
	if withUTP != (sc.udp == sc.utp) {
		t.Fatalf("the DHT's socket is the uTP socket: %v, want %v", sc.udp == sc.utp, withUTP)
	}
	parse := func(tr *enginetest.Torrent, dir string, private bool) Meta {
		m, err := ParseTorrent(tr.MetaInfo, dir)
		if err != nil {
			t.Fatal(err)
		}
		m.Private = private
		return m
	}
	pm := parse(priv, priv.Root, true)
	seed(t, sc, pm)
	m := parse(tr, tr.Root, false)
	seed(t, sc, m)
	node.waitAnnounce(t, m.InfoHash, sc.Addr().Port())

	t.Run("download", func(t *testing.T) {
		lc := newClient(t, cfg)
		lp, err := lc.Add(parse(priv, t.TempDir(), true))
		if err != nil {
			t.Fatal(err)
		}
		dl := t.TempDir()
		lt := addTorrent(t, lc, tr, dl)
		waitDone(t, lt, 60*time.Second)
		enginetest.SameFiles(t, tr, dl)
		lt.mu.Lock()
		source := lt.seen[sc.Addr()]
		lt.mu.Unlock()
		if source != SourceDHT {
			t.Fatalf("the seeder came from %q, want %q", source, SourceDHT)
		}
		if lc.DHTNodes() == 0 {
			t.Fatal("the leecher's routing table is empty")
		}
		lp.mu.Lock()
		known := len(lp.seen)
		lp.mu.Unlock()
		if known != 0 {
			t.Fatalf("the private torrent knows %d peers, with no tracker and no peer given", known)
		}
	})
	t.Run("magnet", func(t *testing.T) {
		enginetest.SameFiles(t, tr, magnetWith(t, cfg, tr, nil, nil))
	})
	t.Run("paused", func(t *testing.T) {
		// Added together, one paused: by the time the other has
		// announced itself, the paused one has asked nothing; resumed,
		// it announces itself.
		// The dirs first: cleanups run last-in first-out, so the
		// client (still downloading tr when the subtest ends) closes
		// before they are removed.
		pausedDir, dl := t.TempDir(), t.TempDir()
		lc := newClient(t, cfg)
		pt, err := lc.AddPaused(parse(other, pausedDir, false))
		if err != nil {
			t.Fatal(err)
		}
		addTorrent(t, lc, tr, dl)
		node.waitAnnounce(t, m.InfoHash, lc.Addr().Port())
		if node.asked(pt.InfoHash()) {
			t.Fatal("a paused torrent asked the DHT")
		}
		pt.Resume()
		node.waitAnnounce(t, pt.InfoHash(), lc.Addr().Port())
	})
	if node.asked(pm.InfoHash) {
		t.Fatal("the DHT was asked about the private torrent")
	}
	if got := sc.dht.PeerStore().GetPeers(pm.InfoHash); len(got) != 0 {
		t.Fatalf("the seeder's DHT node holds %v for the private torrent", got)
	}
}

// The DHT node's peer store keeps at most dhtStorePeers peers per torrent,
// the newest, and forgets announces older than dhtPeerTTL.
func TestDHTPeerStore(t *testing.T) {
	s := newDHTPeerStore()
	var ih [20]byte
	for port := 1; port <= dhtStorePeers+10; port++ {
		s.AddPeer(ih, krpc.NodeAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		time.Sleep(time.Microsecond) // distinct times: the oldest is the first
	}
	got := s.GetPeers(ih)
	if len(got) != dhtStorePeers {
		t.Fatalf("%d peers kept, want %d", len(got), dhtStorePeers)
	}
	for _, p := range got {
		if p.Port <= 10 {
			t.Fatalf("port %d kept: the oldest should have given way", p.Port)
		}
	}
	s.mu.Lock()
	for a := range s.peers[ih] {
		s.peers[ih][a] = time.Now().Add(-dhtPeerTTL - time.Second)
	}
	s.mu.Unlock()
	if got := s.GetPeers(ih); len(got) != 0 {
		t.Fatalf("%d expired peers returned", len(got))
	}
	if len(s.peers) != 0 {
		t.Fatal("an emptied torrent stays in the store")
	}
	s.AddPeer(ih, krpc.NodeAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0})
	if got := s.GetPeers(ih); len(got) != 0 {
		t.Fatalf("a peer without a port was kept: %v", got)
	}
}

// After SetPolicy changes the route (a proxy or a binding set at
// runtime), the DHT node, whose socket was opened for the old route,
// sends nothing: a torrent added then tries to look itself up, its sends
// are refused, and the bootstrap node is never asked about it; one
// added before was announced.
func TestDHTSilentAfterReroute(t *testing.T) {
	node := startDHTNode(t)
	cfg := Config{DHT: true, DHTStartingNodes: node.starting}
	before := enginetest.Generate(t, enginetest.Content{Name: "before.bin", Size: 100_000, Seed: 94})
	after := enginetest.Generate(t, enginetest.Content{Name: "after.bin", Size: 100_000, Seed: 95})
	c := newClient(t, cfg)
	mb, err := ParseTorrent(before.MetaInfo, before.Root)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, c, mb)
	node.waitAnnounce(t, mb.InfoHash, c.Addr().Port())

	ma, err := ParseTorrent(after.MetaInfo, after.Root)
	if err != nil {
		t.Fatal(err)
	}
	// The refused sends that ask about the new torrent (its info-hash
	// is in the query's bytes).
	var asking atomic.Int64
	c.onDHTRefused = func(b []byte) {
		if bytes.Contains(b, ma.InfoHash[:]) {
			asking.Add(1)
		}
	}
	pol := *c.policy()
	if err := c.SetPolicy(pol, true); err != nil {
		t.Fatal(err)
	}
	seed(t, c, ma)
	for deadline := time.Now().Add(30 * time.Second); asking.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the DHT tried no lookup of the new torrent within 30 s")
		}
	}
	if node.asked(ma.InfoHash) {
		t.Fatal("the DHT asked about a torrent added after the reroute")
	}
}
