package native

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/tracker/udp"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// deadTracker is an HTTP "tracker" on loopback that takes each request and
// hangs up without an answer. It counts the connections it was given, and
// the most open at once.
type deadTracker struct {
	ln                     net.Listener
	wg                     sync.WaitGroup
	mu                     sync.Mutex
	accepted, open, peakOp int
}

func startDeadTracker(t *testing.T) *deadTracker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &deadTracker{ln: ln}
	d.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.mu.Lock()
			d.accepted++
			d.open++
			d.peakOp = max(d.peakOp, d.open)
			d.mu.Unlock()
			d.wg.Go(func() {
				// Read the request line, then hang up.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.ReadFull(c, make([]byte, 16))
				c.Close()
				d.mu.Lock()
				d.open--
				d.mu.Unlock()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		d.wg.Wait()
	})
	return d
}

// urls returns n announce URLs of the tracker: n trackers to the client,
// since trackers are told apart by URL.
func (d *deadTracker) urls(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("http://%s/t%d/announce", d.ln.Addr(), i)
	}
	return out
}

func (d *deadTracker) counts() (accepted, peakOpen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.accepted, d.peakOp
}

// outcomes counts the announce outcomes a client reports, per info-hash
// and URL, and the most goroutines seen while they came.
type outcomes struct {
	mu        sync.Mutex
	seen      map[[20]byte]map[string]bool
	pairs     int
	peakG     int
	want      int
	wantFirst chan struct{} // closed once want pairs were reported
}

func newOutcomes(want int) *outcomes {
	return &outcomes{seen: map[[20]byte]map[string]bool{}, want: want, wantFirst: make(chan struct{})}
}

func (o *outcomes) record(ih [20]byte, st TrackerStat) {
	g := runtime.NumGoroutine()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.peakG = max(o.peakG, g)
	if o.seen[ih] == nil {
		o.seen[ih] = map[string]bool{}
	}
	if !o.seen[ih][st.URL] {
		o.seen[ih][st.URL] = true
		o.pairs++
		if o.pairs == o.want {
			close(o.wantFirst)
		}
	}
}

func (o *outcomes) wait(t *testing.T) {
	t.Helper()
	select {
	case <-o.wantFirst:
	case <-time.After(60 * time.Second):
		o.mu.Lock()
		defer o.mu.Unlock()
		t.Fatalf("%d of %d torrent-tracker pairs announced after 60 s", o.pairs, o.want)
	}
}

// Magnets that share dead trackers share what is known of them (issue 15,
// item 16): once a tracker did not answer one magnet, the others do not
// connect to it until its backoff ends, and each magnet has a few
// announces in flight, not one goroutine per tracker. Before, 20 magnets
// with the same 50 dead trackers made 1,000 connections (one per pair) from
// 1,000 goroutines at once.
func TestMagnetsShareDeadTrackers(t *testing.T) {
	const magnets, trackers = 20, 50
	dead := startDeadTracker(t)
	got := newOutcomes(magnets * trackers)
	base := runtime.NumGoroutine()
	c := newClient(t, Config{OnAnnounce: got.record})
	urls := dead.urls(trackers)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range magnets {
		ih := sha1.Sum(fmt.Appendf(nil, "magnet %d", i))
		wg.Go(func() {
			c.FetchMetadata(ctx, ih, nil, urls) // fails when cancelled: no peer has it
		})
	}
	got.wait(t)
	cancel()
	wg.Wait()

	accepted, peakOpen := dead.counts()
	// Each tracker was contacted by at most announcesPerTracker magnets at
	// once before it backed off; the rest were told of the backoff.
	if max := trackers * announcesPerTracker; accepted > max {
		t.Errorf("the dead trackers got %d connections from %d magnets sharing %d of them; want at most %d", accepted, magnets, trackers, max)
	}
	if peakOpen > announcesInFlight {
		t.Errorf("%d connections to trackers were open at once; want at most %d", peakOpen, announcesInFlight)
	}
	// Per magnet a few goroutines, whatever its trackers (the test's, the
	// fetch's, its announcers'); per announce in flight at most four (the
	// HTTP client's dial, read and write loops, and the dead tracker's own).
	if bound := base + magnets*8 + 4*announcesInFlight + 16; got.peakG > bound {
		t.Errorf("%d goroutines while %d magnets announced to %d trackers each (%d before); want at most %d", got.peakG, magnets, trackers, base, bound)
	}
}

// The same for torrents (the announce loop), which once announced to their
// trackers one after the other: a torrent with 50 trackers that hang took
// 50 timeouts to reach its last one. Now every due tracker is announced to,
// announcesPerTorrent at once, and a dead one shared by many torrents is
// contacted once per backoff.
func TestTorrentsShareDeadTrackers(t *testing.T) {
	const torrents, trackers = 10, 50
	dead := startDeadTracker(t)
	got := newOutcomes(torrents * trackers)
	c := newClient(t, Config{OnAnnounce: got.record})
	tr := enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 32 << 10, PieceLength: 16 << 10, Seed: 16})
	urls := dead.urls(trackers)
	dir := t.TempDir()
	for i := range torrents {
		mi := enginetest.Parse(t, enginetest.Parse(t, tr.MetaInfo).WithName(fmt.Sprintf("t%d.bin", i))).WithTrackers(urls...)
		m, err := ParseTorrent(mi, dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	got.wait(t)
	accepted, peakOpen := dead.counts()
	if max := trackers * announcesPerTracker; accepted > max {
		t.Errorf("the dead trackers got %d connections from %d torrents sharing %d of them; want at most %d", accepted, torrents, trackers, max)
	}
	if peakOpen > announcesInFlight {
		t.Errorf("%d connections to trackers were open at once; want at most %d", peakOpen, announcesInFlight)
	}
}

// Only a tracker that gave no answer backs off: one that answered with an
// error is up (it may not know this torrent, and know others).
func TestTrackerAnswered(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/announce", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"HTTP connection refused", refused, false},
		{"HTTP timeout", &url.Error{Op: "Get", URL: "http://x/announce", Err: context.DeadlineExceeded}, false},
		{"UDP no answer in time", context.DeadlineExceeded, false},
		{"UDP write failed", fmt.Errorf("write error: %w", &net.OpError{Op: "write", Net: "udp", Err: errors.New("network is unreachable")}), false},
		{"HTTP failure reason", errors.New(`tracker gave failure reason: "unregistered torrent"`), true},
		{"HTTP status", errors.New(`response from tracker: 404 Not Found: "nope"`), true},
		{"UDP error packet", udp.ErrorResponse{Message: "unregistered torrent"}, true},
	} {
		if got := answered(c.err); got != c.want {
			t.Errorf("%s: answered(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// A tracker's host name is looked up once for all torrents and announces
// (until resolveTTL), not once per announce; HTTP trackers are dialled
// and UDP ones sent to at the address found.
func TestTrackerNamesResolvedOnce(t *testing.T) {
	const magnets, hosts = 10, 8
	dead := startDeadTracker(t)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var packets sync.Map // "udp" → true, once a packet came
	var readers sync.WaitGroup
	readers.Go(func() {
		b := make([]byte, 2048)
		for {
			if _, _, err := silent.ReadFrom(b); err != nil {
				return
			}
			packets.Store("udp", true)
		}
	})
	t.Cleanup(func() {
		silent.Close()
		readers.Wait()
	})
	got := newOutcomes(magnets * 2 * hosts)
	c := newClient(t, Config{OnAnnounce: got.record, TrackerTimeout: 300 * time.Millisecond})
	var mu sync.Mutex
	lookups := map[string]int{}
	c.trackers.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
		mu.Lock()
		lookups[host]++
		mu.Unlock()
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	_, httpPort, _ := net.SplitHostPort(dead.ln.Addr().String())
	_, udpPort, _ := net.SplitHostPort(silent.LocalAddr().String())
	var urls []string
	for i := range hosts {
		urls = append(urls,
			fmt.Sprintf("http://h%d.tracker.test:%s/announce", i, httpPort),
			fmt.Sprintf("udp://u%d.tracker.test:%s/announce", i, udpPort))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range magnets {
		ih := sha1.Sum(fmt.Appendf(nil, "named %d", i))
		wg.Go(func() { c.FetchMetadata(ctx, ih, nil, urls) })
	}
	got.wait(t)
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(lookups) != 2*hosts {
		t.Errorf("%d host names looked up, want %d: %v", len(lookups), 2*hosts, lookups)
	}
	for h, n := range lookups {
		if n != 1 {
			t.Errorf("%s looked up %d times by %d magnets; want once", h, n, magnets)
		}
	}
	if accepted, _ := dead.counts(); accepted == 0 {
		t.Error("no HTTP announce reached the tracker's resolved address")
	}
	if _, ok := packets.Load("udp"); !ok {
		t.Error("no UDP announce reached the tracker's resolved address")
	}
}
