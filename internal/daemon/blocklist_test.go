package daemon_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// countingProxy listens on host and forwards every connection to target,
// counting the connections it accepted: the daemon's dials of the peer
// behind it, seen from the peer's side.
type countingProxy struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startProxy(t *testing.T, host, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.accepted.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *countingProxy) addr() string { return p.ln.Addr().String() }

// handshakeFrom connects to the daemon's peer port from host and sends a
// BitTorrent handshake for infoHash. It returns the connection if the
// daemon answered with its own handshake, nil if it closed the
// connection instead (refused).
func handshakeFrom(t *testing.T, host, peerAddr, infoHash string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", peerAddr)
	if err != nil {
		t.Fatalf("dial from %s: %v", host, err)
	}
	ih, _ := hex.DecodeString(infoHash)
	msg := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
	msg = append(msg, ih...)
	msg = append(msg, []byte("-XX0000-blocklisttst")...)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		c.Close()
		return nil // closed before our handshake was read
	}
	reply := make([]byte, 68)
	if _, err := io.ReadFull(c, reply); err != nil {
		c.Close()
		return nil
	}
	c.SetDeadline(time.Time{})
	return c
}

// TestBlocklist: seeders on 127.0.0.2 and 127.0.0.3, with 127.0.0.2
// blocked by a list served over HTTP on loopback. Only 127.0.0.3 ever
// connects, in both directions: the daemon never dials 127.0.0.2 (its
// proxy accepts nothing), and 127.0.0.2's own connections are closed
// unanswered. Then the list served changes to block 127.0.0.3 instead:
// after a refresh, with no restart, 127.0.0.3's open connection is
// dropped and its new ones refused, and 127.0.0.2 is answered.
func TestBlocklist(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "blocked.bin", Size: 300_000, Seed: 18})
	seedA := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.2"}, tr)
	seedB := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.3"}, tr)
	proxyA := startProxy(t, "127.0.0.2", seedA.Addr)
	proxyB := startProxy(t, "127.0.0.3", seedB.Addr)

	var list atomic.Value
	list.Store("# test list\n127.0.0.2\nnot an address\n")
	var fetches atomic.Int64
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, list.Load().(string))
	}))
	defer srv.Close()

	d := daemontest.Start(t, daemontest.Options{Configure: func(cfg *daemon.Config) {
		cfg.Blocklists = []string{srv.URL + "/list.txt"}
		cfg.BlocklistRefresh = 100 * time.Millisecond
		cfg.AllowPrivateURLs = true
	}})
	c := d.Client(t)
	set, err := c.Settings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if set.BlocklistRules != 1 || set.BlocklistSkipped != 1 || !slices.Equal(set.Blocklists, []string{srv.URL + "/list.txt"}) {
		t.Fatalf("session.get: %+v", set)
	}

	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{proxyA.addr(), proxyB.addr()})})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	waitTask(t, c, res.TaskID, "download from the unblocked seeder", 60*time.Second, func(task api.Task) bool {
		peers, err := c.TaskPeers(ctxT(t, 5*time.Second), res.TaskID)
		if err == nil {
			for _, p := range peers {
				host, _, _ := net.SplitHostPort(p.Address)
				seen[host] = true
			}
		}
		return task.State == api.StateSeeding && task.Completed == task.Size
	})
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	if proxyA.accepted.Load() != 0 {
		t.Errorf("the blocked seeder was dialled %d times", proxyA.accepted.Load())
	}
	if proxyB.accepted.Load() == 0 {
		t.Error("the unblocked seeder was never dialled")
	}
	for host := range seen {
		if host != "127.0.0.3" {
			t.Errorf("task.peers listed %s", host)
		}
	}

	// The other direction: the blocked seeder dials the daemon, and so
	// does a bare peer from each address.
	peerAddr := d.PeerAddrs()[0].String()
	seedA.AddPeer(peerAddr)
	if conn := handshakeFrom(t, "127.0.0.2", peerAddr, tr.InfoHash); conn != nil {
		conn.Close()
		t.Error("a connection from 127.0.0.2 was answered")
	}
	kept := handshakeFrom(t, "127.0.0.3", peerAddr, tr.InfoHash)
	if kept == nil {
		t.Fatal("a connection from 127.0.0.3 was refused")
	}
	defer kept.Close()
	// A control: 127.0.0.4 is on neither list, its connection must
	// outlive the change, so that the drop of 127.0.0.3's is the list's
	// doing.
	control := handshakeFrom(t, "127.0.0.4", peerAddr, tr.InfoHash)
	if control == nil {
		t.Fatal("a connection from 127.0.0.4 was refused")
	}
	defer control.Close()
	set, err = c.Settings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if set.BlocklistRefused < 2 {
		t.Errorf("blocklist_refused %d, want at least the dial and the connection refused", set.BlocklistRefused)
	}
	metrics := scrapeMetrics(t, d)
	for _, want := range []string{"lodestone_blocklist_rules 1\n", "lodestone_blocklist_skipped_lines 1\n", "lodestone_blocklist_refused_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// The list changes: refreshed within the interval, no restart.
	list.Store("127.0.0.3\n")
	kept.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, kept); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection from 127.0.0.3 was not dropped when the list changed: %v", err)
	}
	control.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := io.Copy(io.Discard, control); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection from 127.0.0.4, on no list, ended too: %v", err)
	}
	if conn := handshakeFrom(t, "127.0.0.3", peerAddr, tr.InfoHash); conn != nil {
		conn.Close()
		t.Error("a connection from 127.0.0.3 was answered after the list changed")
	}
	if conn := handshakeFrom(t, "127.0.0.2", peerAddr, tr.InfoHash); conn == nil {
		t.Error("a connection from 127.0.0.2 was refused after the list changed")
	} else {
		conn.Close()
	}
	if fetches.Load() < 2 {
		t.Errorf("the list was fetched %d times", fetches.Load())
	}

	// A refresh that fails raises an alert and keeps the last good list.
	if err := c.Subscribe(ctxT(t, 5*time.Second), api.EventEngineAlert); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelWarning && strings.Contains(a.Message, srv.URL)
	})
	if conn := handshakeFrom(t, "127.0.0.3", peerAddr, tr.InfoHash); conn != nil {
		conn.Close()
		t.Error("a connection from 127.0.0.3 was answered once the list's server failed")
	}
}

// TestBlocklistSetting: session.set replaces the blocklists live and
// keeps them across a restart; a list that cannot be read fails the
// call and changes nothing.
func TestBlocklistSetting(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	file := t.TempDir() + "/list.p2p"
	if err := os.WriteFile(file, []byte("Some net:127.0.0.2-127.0.0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	set, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{Blocklists: &[]string{file}})
	if err != nil {
		t.Fatal(err)
	}
	if set.BlocklistRules != 1 || !slices.Equal(set.Blocklists, []string{file}) {
		t.Fatalf("session.set: %+v", set)
	}
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{Blocklists: &[]string{file, file + ".missing"}}); err == nil {
		t.Fatal("a missing list was accepted")
	}
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{Blocklists: &[]string{"relative.txt"}}); err == nil {
		t.Fatal("a relative path was accepted")
	}
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = d.Client(t)
	set, err = c.Settings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if set.BlocklistRules != 1 || !slices.Equal(set.Blocklists, []string{file}) {
		t.Fatalf("after a restart: %+v", set)
	}
	// A task, so that the anacrolix core wants connections at all (with
	// none it refuses every one before looking at the list).
	tr := enginetest.Generate(t, enginetest.Content{Name: "wanted.bin", Size: 1000, Seed: 19})
	if _, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet(nil)}); err != nil {
		t.Fatal(err)
	}
	peerAddr := d.PeerAddrs()[0].String()
	if conn := handshakeFrom(t, "127.0.0.5", peerAddr, tr.InfoHash); conn != nil {
		conn.Close()
		t.Error("a connection from 127.0.0.5 was answered")
	}
	if set, err = c.Settings(ctxT(t, 5*time.Second)); err != nil || set.BlocklistRefused != 1 {
		t.Errorf("blocklist_refused after one connection from a blocked address: %+v, %v", set, err)
	}
	if set, err = c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{Blocklists: &[]string{}}); err != nil || set.BlocklistRules != 0 || len(set.Blocklists) != 0 {
		t.Fatalf("clearing the lists: %+v, %v", set, err)
	}
}

// scrapeMetrics returns GET /metrics.
func scrapeMetrics(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), "GET", "http://"+d.APIAddr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBlocklistTrackerPeers: peers a tracker hands out are filtered too
// (the list here a file, in eMule's format): the magnet names no peer,
// the tracker names seeders on 127.0.0.2 (blocked) and 127.0.0.3, and
// only 127.0.0.3 is ever dialled.
func TestBlocklistTrackerPeers(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "tracked.bin", Size: 200_000, Seed: 20})
	seedA := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.2"}, tr)
	seedB := enginetest.StartSeeder(t, enginetest.SeederOptions{Host: "127.0.0.3"}, tr)
	proxyA := startProxy(t, "127.0.0.2", seedA.Addr)
	proxyB := startProxy(t, "127.0.0.3", seedB.Addr)
	tracker := enginetest.StartTracker(t, proxyA.addr(), proxyB.addr())
	file := t.TempDir() + "/ipfilter.dat"
	if err := os.WriteFile(file, []byte("127.000.000.002 - 127.000.000.002 , 000 , test\n127.000.000.003 - 127.000.000.003 , 200 , allowed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{Configure: func(cfg *daemon.Config) {
		cfg.Blocklists = []string{file}
	}})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet(nil, tracker.URL)})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, res.TaskID, "download from the tracker's unblocked seeder", 60*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == task.Size
	})
	if proxyA.accepted.Load() != 0 {
		t.Errorf("the blocked seeder was dialled %d times", proxyA.accepted.Load())
	}
	if proxyB.accepted.Load() == 0 {
		t.Error("the unblocked seeder was never dialled")
	}
	set, err := c.Settings(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if set.BlocklistRules != 1 || set.BlocklistRefused == 0 {
		t.Errorf("session.get: rules %d (the allowed eMule entry is no rule), refused %d", set.BlocklistRules, set.BlocklistRefused)
	}
}
