package native

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// controlLog wraps a bindif.Control and records the networks of the
// sockets it ran on.
type controlLog struct {
	mu   sync.Mutex
	nets []string
	ctl  bindif.ControlFunc
}

func (l *controlLog) control(network, address string, c syscall.RawConn) error {
	l.mu.Lock()
	l.nets = append(l.nets, network)
	l.mu.Unlock()
	return l.ctl(network, address, c)
}

// kinds returns "tcp" and/or "udp", each once, for the sockets seen.
func (l *controlLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.nets {
		k := strings.TrimRight(n, "46")
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Two native clients bound to lo download over uTP (the seeder's TCP
// listener is closed): the uTP socket is opened by the client, where
// Control can bind it, and handed to libutp; Control ran on the TCP
// listener, the UDP socket and the dials.
func TestBoundToDeviceOverUTP(t *testing.T) {
	ctl, err := bindif.Control("lo")
	if err != nil {
		t.Skip(err)
	}
	tr := enginetest.Generate(t, enginetest.Content{Name: "bound.bin", Size: 1<<20 + 3, PieceLength: 32 << 10, Seed: 18})
	seedLog, leechLog := &controlLog{ctl: ctl}, &controlLog{ctl: ctl}
	sc, err := New(Config{ListenAddr: "127.0.0.1:0", UTP: true, Control: seedLog.control, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() }) // its error: the listener the test closed
	if sc.utp == nil {
		t.Skip("no uTP in this build (cgo off)")
	}
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, sc, m)
	if err := sc.ln.Close(); err != nil {
		t.Fatal(err)
	}
	lc := utpClient(t, Config{Control: leechLog.control})
	dl := t.TempDir()
	lt := addTorrent(t, lc, tr, dl)
	lt.AddPeers([]netip.AddrPort{sc.Addr()})
	waitDone(t, lt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	for name, l := range map[string]*controlLog{"seeder": seedLog, "leecher": leechLog} {
		if got := l.kinds(); !slices.Equal(got, []string{"tcp", "udp"}) {
			t.Errorf("%s: Control ran on %v sockets, want tcp and udp", name, got)
		}
	}
}

// While the network is down the leecher holds no peer and dials none;
// up again, it dials the seeder it knew and finishes.
func TestNetworkDownHoldsPeers(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "down.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 19})
	sc, _ := seedFrom(t, tr, Config{})
	sc.SetRateLimits(0, 1<<20) // 4 s: time to cut it off
	lc := newClient(t, Config{})
	dl := t.TempDir()
	lt := addTorrent(t, lc, tr, dl)
	lt.AddPeers([]netip.AddrPort{sc.Addr()})
	waitFor(t, "a peer", func() bool { return lt.Stats().Peers > 0 })
	lc.SetNetworkDown(true)
	waitFor(t, "no peer while down", func() bool { return lt.Stats().Peers == 0 })
	lt.redialAll() // what a peer's end would queue: nothing is dialled
	if n := lt.Stats().Peers; n != 0 || len(lt.dialingSnapshot()) != 0 {
		t.Fatalf("down, yet %d peers and dials %v", n, lt.dialingSnapshot())
	}
	lc.SetNetworkDown(false)
	waitDone(t, lt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialingSnapshot returns the addresses being dialled.
func (t *Torrent) dialingSnapshot() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.AddrPort
	for a := range t.dialing {
		out = append(out, a)
	}
	return out
}
