package daemon_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The encryption policy (issue 18) against libtorrent peers that speak
// plaintext only (in_enc_policy and out_enc_policy disabled) and that
// force encryption (pe_forced), in both directions: Lodestone dials a
// libtorrent seeder (a magnet naming it), and a libtorrent leecher dials
// Lodestone, which seeds. Every (libtorrent, policy, direction) case has
// its own torrent and its own libtorrent session, so that what one
// session sees is that case's alone; the sessions all run in one python
// process (testdata/lt_enc.py), and the cases run at once.
//
// A case that must connect passes when both sides list the connection
// with the same encryption (libtorrent's peer list, Lodestone's
// task.peers) and the download completes. A case that must be refused
// passes when libtorrent reports the connection closed (an alert, not a
// sleep) and, then, neither libtorrent's peer list nor task.peers ever
// listed the peer, and nothing was downloaded.
func TestEncryptionPolicy(t *testing.T) {
	// What each libtorrent peer and policy must end in: "" is refused,
	// else the encryption both sides must show. A forced libtorrent
	// offers and accepts RC4 and plaintext after the MSE handshake; prefer
	// picks plaintext (header obfuscation), require RC4.
	want := map[string]map[string]string{
		"plain": {
			engine.EncryptionPrefer:  engine.CryptoPlaintext,
			engine.EncryptionRequire: "",
			engine.EncryptionDisable: engine.CryptoPlaintext,
		},
		"forced": {
			engine.EncryptionPrefer:  engine.CryptoHeader,
			engine.EncryptionRequire: engine.CryptoRC4,
			engine.EncryptionDisable: "",
		},
	}
	policies := []string{engine.EncryptionPrefer, engine.EncryptionRequire, engine.EncryptionDisable}
	modes := []string{"plain", "forced"}

	type side struct {
		d *daemontest.Daemon
		c *client.Client
		// seeds are the task IDs of the torrents the daemon seeds to
		// libtorrent leechers, by libtorrent mode, and their watches.
		seeds   map[string]string
		watches map[string]*peerWatch
	}
	daemons := map[string]*side{}
	var spec strings.Builder
	fromLT := map[string]*enginetest.Torrent{} // by case name: what libtorrent seeds
	n := 0
	for _, pol := range policies {
		d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) { c.Encryption = pol }})
		c := d.Client(t)
		s := &side{d: d, c: c, seeds: map[string]string{}, watches: map[string]*peerWatch{}}
		daemons[pol] = s
		for _, m := range modes {
			n++
			up := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("to-lt-%s-%s.bin", m, pol), Size: 1<<20 + 4321, Seed: uint64(180 + n)})
			seed(t, d, up)
			s.seeds[m] = up.InfoHash // the task ID
			s.watches[m] = watchPeers(t, c, up.InfoHash)
			fmt.Fprintf(&spec, "leech-%s-%s leech %s %s %s %s\n", m, pol, m, enginetest.WriteTorrentFile(t, up), t.TempDir(), peerAddr(t, d))
			down := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("from-lt-%s-%s.bin", m, pol), Size: 1<<20 + 1234, Seed: uint64(190 + n)})
			fromLT[m+"-"+pol] = down
			fmt.Fprintf(&spec, "seed-%s-%s seed %s %s %s\n", m, pol, m, enginetest.WriteTorrentFile(t, down), down.Root)
		}
	}
	lt := startLTEnc(t, spec.String())

	for _, m := range modes {
		for _, pol := range policies {
			s, enc := daemons[pol], want[m][pol]
			t.Run(fmt.Sprintf("lodestone %s dials libtorrent %s", pol, m), func(t *testing.T) {
				t.Parallel()
				name := "seed-" + m + "-" + pol
				port := strings.TrimPrefix(lt.wait(t, name, "port ", 30*time.Second), "port ")
				tr := fromLT[m+"-"+pol]
				res := addMagnet(t, s.c, tr.Magnet([]string{"127.0.0.1:" + port}))
				if enc == "" {
					refused(t, lt, name, s.c, res.TaskID)
					return
				}
				connected(t, lt, name, watchPeers(t, s.c, res.TaskID), enc)
				waitDone(t, s.c, res.TaskID)
				enginetest.SameFiles(t, tr, s.d.Dirs.Download)
			})
			t.Run(fmt.Sprintf("libtorrent %s dials lodestone %s", m, pol), func(t *testing.T) {
				t.Parallel()
				name := "leech-" + m + "-" + pol
				if enc == "" {
					refused(t, lt, name, s.c, s.seeds[m])
					return
				}
				connected(t, lt, name, s.watches[m], enc)
				lt.wait(t, name, "done", 90*time.Second)
			})
		}
	}
}

// connected waits until libtorrent's session name lists a peer past its
// handshakes with encryption enc, and w saw task.peers list one with enc.
func connected(t *testing.T, lt *ltEnc, name string, w *peerWatch, enc string) {
	t.Helper()
	lt.wait(t, name, "handshake ", 60*time.Second)
	line := lt.wait(t, name, "peer ", 60*time.Second)
	if f := strings.Fields(line); f[len(f)-1] != enc {
		t.Errorf("libtorrent %s: %q, want encryption %s", name, line, enc)
	}
	select {
	case <-w.seen:
		if w.peer.Encryption != enc {
			t.Errorf("task.peers: %+v, want encryption %s", w.peer, enc)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("task.peers listed no peer within 60 s")
	}
}

// peerWatch polls a task's peers from the moment it is made until one
// is listed: the cases run two at a time (-test.parallel), and a peer
// that dialled Lodestone may be done before its case runs.
type peerWatch struct {
	seen chan struct{} // closed once peer is set
	peer api.TaskPeer
}

// watchPeers starts a peerWatch of taskID; it ends with the test.
func watchPeers(t *testing.T, c *client.Client, taskID string) *peerWatch {
	w := &peerWatch{seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	t.Cleanup(func() { cancel(); <-ended })
	go func() {
		defer close(ended)
		for ctx.Err() == nil {
			if peers, err := c.TaskPeers(ctx, taskID); err == nil && len(peers) > 0 {
				w.peer = peers[0]
				close(w.seen)
				return
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

// refused waits until libtorrent's session name reports a connection
// closed with an error, then checks that no connection ever got past its
// handshakes: libtorrent's peer log showed none (it logs a connection's
// handshakes before its end) and its peer list listed none, task.peers
// lists none and the task has nothing of the libtorrent side's data.
func refused(t *testing.T, lt *ltEnc, name string, c *client.Client, taskID string) {
	t.Helper()
	line := lt.wait(t, name, "closed ", 60*time.Second)
	t.Logf("libtorrent %s: %s", name, line)
	for _, prefix := range []string{"handshake ", "peer "} {
		if l, ok := lt.find(name, prefix); ok {
			t.Errorf("libtorrent %s connected: %s", name, l)
		}
	}
	peers, err := c.TaskPeers(ctxT(t, 10*time.Second), taskID)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) > 0 {
		t.Errorf("task.peers: %+v, want none", peers)
	}
	task, err := c.GetTask(ctxT(t, 10*time.Second), taskID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(name, "seed-") && task.Completed != 0 {
		t.Errorf("task completed %d bytes from a refused peer", task.Completed)
	}
}

// waitDone waits until the task has every byte.
func waitDone(t *testing.T, c *client.Client, taskID string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		task, err := c.GetTask(ctxT(t, 10*time.Second), taskID)
		if err != nil {
			t.Fatal(err)
		}
		if task.Size > 0 && task.Completed == task.Size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not complete within 90 s: %+v", taskID, task)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ltEnc is a running testdata/lt_enc.py: its output lines, by session.
type ltEnc struct {
	mu    sync.Mutex
	lines map[string][]string
	wake  chan struct{} // closed and replaced on each line
	ended bool
}

// startLTEnc runs lt_enc.py with spec until the test ends.
func startLTEnc(t *testing.T, spec string) *ltEnc {
	t.Helper()
	file := filepath.Join(t.TempDir(), "spec")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "lt_enc.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, enginetest.LibtorrentPython, script, file)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start libtorrent (python3-libtorrent; scripts/test installs it): %v", err)
	}
	lt := &ltEnc{lines: map[string][]string{}, wake: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			name, rest, _ := strings.Cut(sc.Text(), " ")
			lt.mu.Lock()
			lt.lines[name] = append(lt.lines[name], rest)
			close(lt.wake)
			lt.wake = make(chan struct{})
			lt.mu.Unlock()
		}
		lt.mu.Lock()
		lt.ended = true
		close(lt.wake)
		lt.mu.Unlock()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
		cmd.Wait()
		lt.mu.Lock()
		for name, ls := range lt.lines {
			for _, l := range ls {
				t.Logf("libtorrent %s %s", name, l)
			}
		}
		lt.mu.Unlock()
	})
	return lt
}

// find returns the first line of session name that starts with prefix.
func (lt *ltEnc) find(name, prefix string) (string, bool) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for _, l := range lt.lines[name] {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// wait returns the first line of session name that starts with prefix,
// waiting for it up to timeout.
func (lt *ltEnc) wait(t *testing.T, name, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		lt.mu.Lock()
		wake, ended := lt.wake, lt.ended // taken with the lines: no line slips between
		for _, l := range lt.lines[name] {
			if strings.HasPrefix(l, prefix) {
				lt.mu.Unlock()
				return l
			}
		}
		lt.mu.Unlock()
		if ended {
			t.Fatalf("libtorrent ended before %s printed %q", name, prefix)
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("libtorrent %s printed no %q within %v", name, prefix, timeout)
		}
	}
}

// --anonymous (issue 18): a libtorrent leecher and an HTTP tracker see
// neither Lodestone's name nor its version. libtorrent's peer log gives
// the peer ID and the extension handshake exactly as received; the
// tracker records each announce's User-Agent and peer_id. A daemon
// without --anonymous, watched the same way, shows the name: the
// observation would see it.
func TestAnonymous(t *testing.T) {
	type seen struct {
		peerID, ext  string // from libtorrent, as it prints them
		ua, trPeerID string // from the tracker
	}
	var spec strings.Builder
	type run struct {
		anonymous bool
		tracker   *uaTracker
		d         *daemontest.Daemon
	}
	runs := []*run{{anonymous: true}, {anonymous: false}}
	for i, r := range runs {
		r.tracker = startUATracker(t)
		r.d = daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
			c.Anonymous = r.anonymous
			c.AllowPrivateTrackers = true
		}})
		content := enginetest.Content{Name: fmt.Sprintf("anon-%d.bin", i), Size: 256<<10 + 99, Seed: uint64(170 + i)}
		content.Trackers = []string{r.tracker.url}
		tr := enginetest.Generate(t, content)
		seed(t, r.d, tr)
		fmt.Fprintf(&spec, "leech-%d leech plain %s %s %s\n", i, enginetest.WriteTorrentFile(t, tr), t.TempDir(), peerAddr(t, r.d))
	}
	lt := startLTEnc(t, spec.String())
	for i, r := range runs {
		name := fmt.Sprintf("leech-%d", i)
		var s seen
		s.peerID = strings.Fields(lt.wait(t, name, "peerid ", 60*time.Second))[2]
		s.ext = strings.Fields(lt.wait(t, name, "exthandshake ", 60*time.Second))[2]
		lt.wait(t, name, "done", 60*time.Second)
		_, port, _ := net.SplitHostPort(peerAddr(t, r.d))
		s.ua, s.trPeerID = r.tracker.from(t, port)
		t.Logf("anonymous %v: %+v", r.anonymous, s)
		named := strings.HasPrefix(s.peerID, hex.EncodeToString([]byte("-LS"))) ||
			strings.Contains(s.ext, "Lodestone") || strings.Contains(s.ext, "'v':") ||
			strings.Contains(s.ua, "Lodestone") || strings.HasPrefix(s.trPeerID, "-LS")
		if named == r.anonymous {
			t.Errorf("anonymous %v: peers and trackers saw %+v", r.anonymous, s)
		}
	}
}

// uaTracker is an HTTP tracker that records each announce's
// User-Agent, peer_id and port, and answers with no peers.
type uaTracker struct {
	url       string
	mu        sync.Mutex
	announces []announce
	wake      chan struct{} // closed and replaced at each announce
}

type announce struct{ ua, peerID, port string }

func startUATracker(t *testing.T) *uaTracker {
	tr := &uaTracker{wake: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		tr.mu.Lock()
		tr.announces = append(tr.announces, announce{r.Header.Get("User-Agent"), q.Get("peer_id"), q.Get("port")})
		close(tr.wake)
		tr.wake = make(chan struct{})
		tr.mu.Unlock()
		io.WriteString(w, "d8:intervali1800e5:peers0:e")
	}))
	t.Cleanup(srv.Close)
	tr.url = srv.URL + "/announce"
	return tr
}

// from returns the User-Agent and peer_id of the first announce with
// port (the libtorrent leecher announces too).
func (tr *uaTracker) from(t *testing.T, port string) (ua, peerID string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		tr.mu.Lock()
		wake := tr.wake
		for _, a := range tr.announces {
			if a.port == port {
				tr.mu.Unlock()
				return a.ua, a.peerID
			}
		}
		tr.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("no announce from port %s within 60 s", port)
		}
	}
}
