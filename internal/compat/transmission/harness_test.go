package transmission_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// rpcUser and rpcPass are the credentials of the reference server.
// Lodestone ignores the user name and takes its API token as the password.
const (
	rpcUser = "sonarr"
	rpcPass = "reference-password"
)

// swarm is a loopback swarm: a seeder of a multi-file and a single-file
// torrent, found through a tracker that both torrents (and magnets of
// them) name. Transmission 3.00 ignores a magnet's x.pe, and never dials
// a peer on 127/8, which it takes for martian (libtransmission/net.c,
// isMartianAddr, at tag 3.00): the seeder dials the reference server
// instead (see serve).
type swarm struct {
	seeder  *enginetest.Seeder
	tracker *enginetest.Tracker
	// multi is enginetest.MultiFile (5 files, nested dirs, an empty one).
	multi *enginetest.Torrent
	// single is one file of 1.5 MB.
	single *enginetest.Torrent
}

// startSwarm seeds two torrents generated from seed. The seeder's upload
// is capped so that a download lasts about a second: long enough for a
// client polling every 100 ms to see it downloading.
func startSwarm(t testing.TB, seed uint64) *swarm {
	t.Helper()
	s := &swarm{seeder: enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 2 << 20})}
	s.tracker = enginetest.StartTracker(t, s.seeder.Addr)
	multi := enginetest.MultiFile(seed)
	multi.Trackers = []string{s.tracker.URL}
	s.multi = enginetest.Generate(t, multi)
	s.single = enginetest.Generate(t, enginetest.Content{Name: "single.bin", Size: 1_500_007, Seed: seed + 1, Trackers: []string{s.tracker.URL}})
	s.seeder.Seed(t, s.multi)
	s.seeder.Seed(t, s.single)
	return s
}

// serve makes the swarm reach srv: for the reference server, the seeder
// dials its peer port every 250 ms until the test ends (it refuses the
// seeder until it has the torrent; an accepted connection is kept).
// Lodestone dials the seeder itself, as the tracker or x.pe tell it.
func (s *swarm) serve(t testing.TB, srv *server) {
	if srv.peerAddr == "" {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			s.seeder.AddPeer(srv.peerAddr)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// magnet is a magnet of tr naming the swarm's tracker (and the seeder as
// x.pe, for the servers that read it).
func (s *swarm) magnet(tr *enginetest.Torrent) string {
	return tr.Magnet([]string{s.seeder.Addr}, s.tracker.URL)
}

// torrentFile writes tr's .torrent into a new temporary directory.
func torrentFile(t testing.TB, tr *enginetest.Torrent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), tr.Name+".torrent")
	if err := os.WriteFile(p, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sameFiles compares srv's download of tr under dir with its source, byte
// for byte. Transmission 3.00 does not create a torrent's empty files: a
// missing empty file is not a difference for the reference.
func sameFiles(t testing.TB, srv *server, tr *enginetest.Torrent, dir string) {
	t.Helper()
	want := enginetest.Hashes(t, tr.Root, tr.Name)
	got := enginetest.Hashes(t, dir, tr.Name)
	for p, h := range want {
		g, ok := got[p]
		switch {
		case !ok && srv.name == transmission && h == sha256.Sum256(nil):
		case !ok:
			t.Errorf("%s: %s was not downloaded into %s", srv.name, p, dir)
		case g != h:
			t.Errorf("%s: %s differs from the source", srv.name, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s is not in the torrent", srv.name, p)
		}
	}
}

// server is a Transmission RPC server under test: Lodestone or the
// reference transmission-daemon.
type server struct {
	name        string // "lodestone" or "transmission"
	host        string // 127.0.0.1:port
	user, pass  string
	downloadDir string
	// peerAddr is the reference server's peer address ("" for
	// Lodestone, which dials the seeder).
	peerAddr string
}

const (
	lodestone    = "lodestone"
	transmission = "transmission"
)

func (s *server) url() string { return "http://" + s.host + "/transmission/rpc" }

// startLodestone runs an in-process Lodestone daemon until the test ends.
func startLodestone(t testing.TB) *server {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{})
	return &server{name: lodestone, host: d.APIAddr(), user: rpcUser, pass: daemontest.Token, downloadDir: d.Dirs.Download}
}

// needProgram fails the test if name is not on PATH: the tests must not
// skip in CI, and scripts/test installs every program they use.
func needProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s (scripts/test does): %v", name, pkg, err)
	}
	return p
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	_, port, _ := strings.Cut(enginetest.ClosedPort(t), ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startTransmission runs Debian's transmission-daemon 3.00 in the
// foreground with a configuration of its own: RPC on 127.0.0.1 with a
// whitelist and a password, no DHT, LPD, PEX, uTP, port mapping or
// blocklist, peers on 127.0.0.1. It is killed when the test ends; its log
// is shown only if the test failed.
func startTransmission(t testing.TB) *server {
	t.Helper()
	bin := needProgram(t, "transmission-daemon", "transmission-daemon")
	base := t.TempDir()
	cfg, dl := filepath.Join(base, "config"), filepath.Join(base, "downloads")
	for _, d := range []string{cfg, dl} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rpcPort, peerPort := freePort(t), freePort(t)
	settings := map[string]any{
		"rpc-enabled":                 true,
		"rpc-bind-address":            "127.0.0.1",
		"rpc-port":                    rpcPort,
		"rpc-whitelist-enabled":       true,
		"rpc-whitelist":               "127.0.0.1",
		"rpc-host-whitelist-enabled":  true,
		"rpc-authentication-required": true,
		"rpc-username":                rpcUser,
		"rpc-password":                rpcPass,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"pex-enabled":                 false,
		"utp-enabled":                 false,
		"blocklist-enabled":           false,
		"port-forwarding-enabled":     false,
		"peer-port":                   peerPort,
		"peer-port-random-on-start":   false,
		"bind-address-ipv4":           "127.0.0.1",
		"bind-address-ipv6":           "::1",
		"download-dir":                dl,
		"incomplete-dir-enabled":      false,
		"rename-partial-files":        false,
		"start-added-torrents":        true,
		"speed-limit-down-enabled":    false,
		"speed-limit-up-enabled":      false,
		"ratio-limit-enabled":         false,
		"idle-seeding-limit-enabled":  false,
		"encryption":                  1,
		"message-level":               2,
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", "-g", cfg, "-p", strconv.Itoa(rpcPort), "-w", dl, "--no-portmap",
		"-t", "-u", rpcUser, "-v", rpcPass, "-P", strconv.Itoa(peerPort), "--no-dht", "--no-lpd")
	var log syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start transmission-daemon: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("transmission-daemon did not exit within 10 s of SIGKILL")
		}
		if t.Failed() {
			t.Logf("transmission-daemon log:\n%s", log.String())
		}
	})
	s := &server{name: transmission, host: fmt.Sprintf("127.0.0.1:%d", rpcPort), user: rpcUser, pass: rpcPass, downloadDir: dl,
		peerAddr: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	// It serves once any answer comes (a 409 asking for the session id).
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Post(s.url(), "application/json", strings.NewReader(`{"method":"session-get"}`))
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("transmission-daemon exited before serving: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission-daemon did not serve RPC within 20 s:\n%s", log.String())
		}
	}
	return s
}

// bothServers starts Lodestone and the reference, in that order.
func bothServers(t testing.TB) []*server {
	return []*server{startLodestone(t), startTransmission(t)}
}

// rpc is a raw client of a Transmission RPC server, behaving as
// Transmission's own clients do: Basic auth, and the session id learnt
// from a 409 and sent with every request. It returns what the server
// answered, without judging it.
type rpc struct {
	t       testing.TB
	srv     *server
	session string
}

func newRPC(t testing.TB, s *server) *rpc { return &rpc{t: t, srv: s} }

// reply is one answer of the legacy protocol.
type reply struct {
	Result    string                     `json:"result"`
	Arguments map[string]json.RawMessage `json:"arguments"`
	Tag       json.RawMessage            `json:"tag"`
}

// post sends body with the client's credentials and session id; edit may
// change the request first. It returns the status, headers and body.
func (c *rpc) post(body string, edit func(*http.Request)) (int, http.Header, []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.srv.url(), strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.srv.user, c.srv.pass)
	if c.session != "" {
		req.Header.Set("X-Transmission-Session-Id", c.session)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", c.srv.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s: read answer: %v", c.srv.name, err)
	}
	return resp.StatusCode, resp.Header, b
}

// raw sends body, doing the 409 handshake when asked for, and returns the
// 200 answer's body.
func (c *rpc) raw(body string) []byte {
	c.t.Helper()
	status, h, b := c.post(body, nil)
	if status == http.StatusConflict {
		c.session = h.Get("X-Transmission-Session-Id")
		status, _, b = c.post(body, nil)
	}
	if status != http.StatusOK {
		c.t.Fatalf("%s: %.200s: HTTP %d: %s", c.srv.name, body, status, b)
	}
	return b
}

// call runs method with args (nil: none) and returns the reply.
func (c *rpc) call(method string, args any) reply {
	c.t.Helper()
	req := map[string]any{"method": method}
	if args != nil {
		req["arguments"] = args
	}
	body, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	var r reply
	if b := c.raw(string(body)); json.Unmarshal(b, &r) != nil {
		c.t.Fatalf("%s: %s: answer is not the protocol's JSON: %s", c.srv.name, method, b)
	}
	return r
}

// ok runs method and fails the test unless it succeeds; it decodes the
// arguments into out (if not nil).
func (c *rpc) ok(method string, args, out any) {
	c.t.Helper()
	r := c.call(method, args)
	if r.Result != "success" {
		c.t.Fatalf("%s: %s(%v): result %q", c.srv.name, method, args, r.Result)
	}
	if out != nil {
		b, _ := json.Marshal(r.Arguments)
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s: %s: %v", c.srv.name, method, err)
		}
	}
}

// torrents runs torrent-get for fields and ids (nil: all) and returns the
// objects as the server sent them.
func (c *rpc) torrents(ids any, fields ...string) []map[string]json.RawMessage {
	c.t.Helper()
	args := map[string]any{"fields": fields}
	if ids != nil {
		args["ids"] = ids
	}
	var out struct {
		Torrents []map[string]json.RawMessage `json:"torrents"`
	}
	c.ok("torrent-get", args, &out)
	return out.Torrents
}

// status is the status of the torrent with hash h, or -1 if the server
// does not list it.
func (c *rpc) status(h string) int {
	c.t.Helper()
	ts := c.torrents([]string{h}, "status")
	if len(ts) != 1 {
		return -1
	}
	var st int
	json.Unmarshal(ts[0]["status"], &st)
	return st
}

// waitFor polls cond every 100 ms until it holds, failing the test after
// timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
