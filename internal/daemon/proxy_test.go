package daemon_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// front is a TCP relay on a loopback address of its own in front of a
// seeder or a tracker: it records the address of every connection it
// accepts, which is what the seeder or tracker behind it would see.
type front struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	from  []string // remote addresses, in dante's notation (ip.port)
	conns []net.Conn
}

func startFront(t *testing.T, host, target string) *front {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	f := &front{ln: ln}
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			f.mu.Lock()
			f.from = append(f.from, ap.Addr().String()+"."+strings.TrimPrefix(c.RemoteAddr().String(), ap.Addr().String()+":"))
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				f.mu.Lock()
				f.conns = append(f.conns, up)
				f.mu.Unlock()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// Addr is where the front listens.
func (f *front) Addr() string { return f.ln.Addr().String() }

// dante is the front's address in dante's log notation (ip.port).
func (f *front) dante() string { return strings.Replace(f.Addr(), ":", ".", 1) }

// accepted returns the remote address of every connection accepted.
func (f *front) accepted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.from...)
}

// proxyDaemon starts a daemon with every peer and tracker connection
// through proxyURL, proxy-only (the default when a proxy is set).
// Its log, down to debug, must never show the proxy's password.
// more edit the configuration further.
func proxyDaemon(t *testing.T, proxyURL string, more ...func(*daemon.Config)) *daemontest.Daemon {
	var logs syncbuf.Buffer
	t.Cleanup(func() { // after the daemon stopped: every record is in
		if strings.Contains(logs.String(), dantetest.Password) {
			t.Error("the daemon's log shows the proxy's password")
		}
	})
	log := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo}),
		slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))
	return daemontest.Start(t, daemontest.Options{Logger: log, Configure: func(c *daemon.Config) {
		c.Proxy = proxyURL
		// As a user's daemon has them: proxy-only must turn them off.
		c.DHT, c.UTP = true, true
		for _, f := range more {
			f(c)
		}
	}})
}

// requireFromProxy fails unless every connection f accepted was made by
// dante for a client: its log shows a connect from that very address
// and port to f. dante writes the line once it connected, so it is
// waited for.
func requireFromProxy(t *testing.T, d *dantetest.Server, what string, f acceptor) {
	t.Helper()
	from := f.accepted()
	if len(from) == 0 {
		t.Errorf("%s: no connection at all", what)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, src := range from {
		for !strings.Contains(d.Log(), src+" "+f.dante()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a connection from %s that the proxy did not make; dante's log:\n%s", what, src, d.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// acceptor is a listener that records whom it accepted: a front, or a
// webServer.
type acceptor interface {
	accepted() []string // remote addresses, in dante's notation
	dante() string      // its own address, in dante's notation
}

// proxySwarm is a torrent's seeder behind a front on 127.0.0.6, an HTTP
// tracker behind a front on 127.0.0.7 and a UDP tracker on 127.0.0.8,
// both trackers answering with the seeder's front. The seeder does no
// PEX: it would dial its own front, a connection the proxy did not make.
type proxySwarm struct {
	tr                      *enginetest.Torrent
	seedFront, trackerFront *front
	httpURL                 string // the HTTP tracker's front
	httpTracker             *enginetest.Tracker
	udpTracker              *enginetest.UDPTracker
}

func startProxySwarm(t *testing.T, c enginetest.Content) *proxySwarm {
	t.Helper()
	sw := &proxySwarm{tr: enginetest.Generate(t, c)}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.5", NoPEX: true}, sw.tr)
	sw.seedFront = startFront(t, "127.0.0.6", seeder.Addr)
	sw.httpTracker = enginetest.StartTracker(t, sw.seedFront.Addr())
	sw.trackerFront = startFront(t, "127.0.0.7", strings.TrimPrefix(strings.TrimSuffix(sw.httpTracker.URL, "/announce"), "http://"))
	sw.httpURL = "http://" + sw.trackerFront.Addr() + "/announce"
	sw.udpTracker = enginetest.StartUDPTracker(t, "127.0.0.8", sw.seedFront.Addr())
	return sw
}

// add adds the swarm's torrent, announcing to trackers, to the daemon of c.
func (sw *proxySwarm) add(t *testing.T, c *client.Client, trackers ...string) api.TaskAddResult {
	t.Helper()
	meta := enginetest.Parse(t, sw.tr.MetaInfo).WithTrackers(trackers...)
	res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(meta)})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestProxySOCKS5 downloads through a real dante with user/password: the
// seeder and both trackers (HTTP and UDP) are reached only through it,
// the daemon listens for no peer, and the download completes.
func TestProxySOCKS5(t *testing.T) {
	d := dantetest.Start(t)
	sw := startProxySwarm(t, enginetest.Content{Name: "proxied.bin", Size: 3_000_017, Seed: 181})
	tr, seedFront, trackerFront, httpTracker, udpTracker := sw.tr, sw.seedFront, sw.trackerFront, sw.httpTracker, sw.udpTracker

	dm := proxyDaemon(t, d.URL())
	if addrs := dm.PeerAddrs(); len(addrs) != 0 {
		t.Errorf("proxy-only daemon listens for peers at %v", addrs)
	}
	c := dm.Client(t)
	res := sw.add(t, c, sw.httpURL, udpTracker.URL)
	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dm.Dirs.Download)

	requireFromProxy(t, d, "the seeder", seedFront)
	requireFromProxy(t, d, "the HTTP tracker", trackerFront)
	if httpTracker.Announces() == 0 {
		t.Error("no announce reached the HTTP tracker")
	}
	// The UDP tracker: every datagram came from dante's relay, which
	// logged the association's traffic to it.
	for deadline := time.Now().Add(60 * time.Second); udpTracker.Announces() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no announce reached the UDP tracker through the proxy; dante's log:\n%s", d.Log())
		}
	}
	udpDante := strings.Replace(strings.TrimSuffix(strings.TrimPrefix(udpTracker.URL, "udp://"), "/announce"), ":", ".", 1)
	for _, src := range udpTracker.Sources() {
		if !strings.HasPrefix(src, "127.0.0.1:") {
			t.Errorf("the UDP tracker got a datagram from %s, not from the proxy", src)
		}
	}
	if !strings.Contains(d.Log(), udpDante) {
		t.Errorf("dante's log does not show the UDP tracker %s:\n%s", udpDante, d.Log())
	}
	if strings.Contains(d.Log(), dantetest.Password) {
		t.Error("dante's log shows the password (it should not have been sent in the clear anywhere else either)")
	}
}

// TestProxySOCKS5Down: with the proxy gone, the seeder and both
// trackers see no connection at all, and an alert says why, without the
// password.
func TestProxySOCKS5Down(t *testing.T) {
	d := dantetest.Start(t)
	d.Stop()
	sw := startProxySwarm(t, enginetest.Content{Name: "stranded.bin", Size: 300_007, Seed: 182})
	tr, seedFront, trackerFront, udpTracker, httpURL := sw.tr, sw.seedFront, sw.trackerFront, sw.udpTracker, sw.httpURL

	dm := proxyDaemon(t, d.URL())
	c := dm.Client(t)
	// A peer given directly, and both trackers: all through the proxy,
	// so never reached.
	res := addMagnet(t, c, tr.Magnet([]string{seedFront.Addr()}, httpURL, udpTracker.URL))
	ev := waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching("", "SOCKS5 proxy", "unreachable"))
	msg := decode[api.EngineAlertData](t, ev.Data).Message
	if strings.Contains(msg, dantetest.Password) || !strings.Contains(msg, d.Addr) {
		t.Errorf("alert %q: want the proxy's address and no password", msg)
	}
	// Both trackers were tried (through the proxy) and failed.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		trs, err := c.TaskTrackers(ctxT(t, 10*time.Second), res.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		failed := 0
		for _, tr := range trs {
			if tr.Status == "error" && strings.Contains(tr.LastError, "unreachable") {
				failed++
			}
		}
		if failed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trackers %+v: want both failed, the proxy unreachable", trs)
		}
	}
	if got := seedFront.accepted(); len(got) != 0 {
		t.Errorf("the seeder saw %d direct connections: %v", len(got), got)
	}
	if got := trackerFront.accepted(); len(got) != 0 {
		t.Errorf("the HTTP tracker saw %d direct connections: %v", len(got), got)
	}
	if got := udpTracker.Sources(); len(got) != 0 {
		t.Errorf("the UDP tracker got %d direct datagrams: %v", len(got), got)
	}
}

// TestProxySOCKS5NoUDP: a proxy that does not relay UDP makes the UDP
// tracker skipped, with an alert, never contacted directly; the HTTP
// tracker and the peers still work through the proxy.
func TestProxySOCKS5NoUDP(t *testing.T) {
	d := dantetest.StartWith(t, dantetest.Options{NoUDP: true})
	sw := startProxySwarm(t, enginetest.Content{Name: "tcponly.bin", Size: 1_000_003, Seed: 184})
	tr, seedFront, udpTracker := sw.tr, sw.seedFront, sw.udpTracker

	dm := proxyDaemon(t, d.URL())
	c := dm.Client(t)
	res := sw.add(t, c, sw.httpURL, udpTracker.URL)
	waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching("", "does not relay UDP", "UDP trackers are skipped"))
	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dm.Dirs.Download)
	requireFromProxy(t, d, "the seeder", seedFront)
	if got := udpTracker.Sources(); len(got) != 0 {
		t.Errorf("the UDP tracker got %d datagrams, want none: %v", len(got), got)
	}
}

// TestProxySOCKS5Recovers: the proxy comes back after a streak of
// failures: one alert says it answers again, and the download completes
// through it.
func TestProxySOCKS5Recovers(t *testing.T) {
	d := dantetest.Start(t)
	d.Stop()
	sw := startProxySwarm(t, enginetest.Content{Name: "later.bin", Size: 1_000_003, Seed: 185})
	tr, seedFront := sw.tr, sw.seedFront

	dm := proxyDaemon(t, d.URL())
	c := dm.Client(t)
	res := sw.add(t, c, sw.httpURL)
	waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching("", "SOCKS5 proxy", "unreachable"))
	d.Restart(t)
	// Announce at once rather than after the tracker's backoff.
	if err := c.ReannounceTask(ctxT(t, 30*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventEngineAlert, 60*time.Second, alertMatching("", "SOCKS5 proxy", "answers again"))
	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dm.Dirs.Download)
	requireFromProxy(t, d, "the seeder", seedFront)
}
