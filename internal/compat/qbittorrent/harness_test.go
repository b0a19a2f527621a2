package qbittorrent

import (
	"bytes"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// server is one qBittorrent WebUI API v2 server under test: Lodestone or
// the reference qbittorrent-nox.
type server struct {
	name       string // "lodestone" or "qbittorrent-nox"
	base       string // http://127.0.0.1:port
	user, pass string
	// download is its default save path.
	download string
	// scratch is a directory for category paths and move targets.
	scratch string
	// hostPort is what a client puts in Host.
	hostPort string
}

const (
	lodestoneName = "lodestone"
	referenceName = "qbittorrent-nox"
	// refUser and refPass are the reference server's WebUI credentials.
	refUser = "admin"
	refPass = "compat-Password-16"
	// refMaxFails is the reference's WebUI\MaxAuthenticationFailCount:
	// the failed logins that ban an address.
	refMaxFails = 5
)

// startLodestone runs Lodestone in-process on loopback; its qBittorrent
// API is /api/v2 on the API listener, and the password is the API token.
func startLodestone(t *testing.T) *server {
	t.Helper()
	d := daemontest.Start(t, daemontest.Options{})
	return &server{
		name:     lodestoneName,
		base:     "http://" + d.APIAddr(),
		hostPort: d.APIAddr(),
		user:     "admin",
		pass:     daemontest.Token,
		download: d.Dirs.Download,
		scratch:  t.TempDir(),
	}
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// passwordPBKDF2 is the WebUI\Password_PBKDF2 value for pass, in
// qBittorrent's format (src/base/utils/password.cpp): PBKDF2-HMAC-SHA512,
// 100000 iterations, a 16-byte salt, "@ByteArray(SALT_B64:HASH_B64)".
func passwordPBKDF2(t *testing.T, pass string) string {
	t.Helper()
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha512.New, pass, salt, 100_000, 64)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("@ByteArray(%s:%s)", base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key))
}

// referenceConfig is the reference's qBittorrent.conf: the legal notice
// accepted (4.5.2 asks on first start otherwise), the WebUI on loopback
// with a known password and qBittorrent's own defenses on (CSRF, Host
// header validation against localhost only, a ban after refMaxFails), and
// a session bound to lo with DHT, PeX, LSD, UPnP and queueing off, TCP
// only and several connections per address (every peer is 127.0.0.1), and
// no peer countries resolved: otherwise it goes to fetch its geolocation
// database from the internet.
func referenceConfig(webPort, peerPort int, passHash, download string) string {
	return fmt.Sprintf(`[LegalNotice]
Accepted=true

[BitTorrent]
Session\Port=%d
Session\Interface=lo
Session\InterfaceName=lo
Session\InterfaceAddress=127.0.0.1
Session\DHTEnabled=false
Session\PeXEnabled=false
Session\LSDEnabled=false
Session\QueueingSystemEnabled=false
Session\BTProtocol=TCP
Session\MultiConnectionsPerIp=true
Session\DefaultSavePath=%s
Session\TempPathEnabled=false
Session\AddTorrentPaused=false
Session\DisableAutoTMMByDefault=true
Session\AnonymousModeEnabled=false

[Network]
PortForwardingEnabled=false

[Preferences]
General\Locale=en
Connection\ResolvePeerCountries=false
WebUI\Address=127.0.0.1
WebUI\Port=%d
WebUI\UseUPnP=false
WebUI\LocalHostAuth=true
WebUI\Username=%s
WebUI\Password_PBKDF2="%s"
WebUI\CSRFProtection=true
WebUI\ClickjackingProtection=true
WebUI\HostHeaderValidation=true
WebUI\ServerDomains=localhost
WebUI\MaxAuthenticationFailCount=%d
WebUI\BanDuration=3600
WebUI\SessionTimeout=3600
`, peerPort, download, webPort, refUser, passHash, refMaxFails)
}

// startReference runs Debian's qbittorrent-nox on loopback with its own
// profile, waits until its WebUI answers, and stops it (SIGTERM, then
// SIGKILL) when the test ends, whatever the outcome. A missing binary
// fails the test: CI installs it (scripts/test).
func startReference(t *testing.T) *server {
	t.Helper()
	bin, err := exec.LookPath("qbittorrent-nox")
	if err != nil {
		t.Fatalf("qbittorrent-nox is not installed (Debian package qbittorrent-nox; scripts/test installs it): %v", err)
	}
	base := t.TempDir()
	profile := filepath.Join(base, "profile")
	download := filepath.Join(base, "downloads")
	confDir := filepath.Join(profile, "qBittorrent", "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(download, 0o755); err != nil {
		t.Fatal(err)
	}
	webPort, peerPort := freePort(t), freePort(t)
	conf := referenceConfig(webPort, peerPort, passwordPBKDF2(t, refPass), download)
	if err := os.WriteFile(filepath.Join(confDir, "qBittorrent.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	var logs syncbuf.Buffer
	cmd := exec.Command(bin, "--profile="+profile, fmt.Sprintf("--webui-port=%d", webPort))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "HOME="+base, "XDG_CONFIG_HOME="+filepath.Join(base, "xdg"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qbittorrent-nox: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("qbittorrent-nox output:\n%s", logs.String())
			if b, err := os.ReadFile(filepath.Join(profile, "qBittorrent", "data", "logs", "qbittorrent.log")); err == nil {
				t.Logf("qbittorrent-nox log:\n%s", b)
			}
		}
	})

	s := &server{
		name:     referenceName,
		base:     fmt.Sprintf("http://127.0.0.1:%d", webPort),
		hostPort: fmt.Sprintf("127.0.0.1:%d", webPort),
		user:     refUser,
		pass:     refPass,
		download: download,
		scratch:  t.TempDir(),
	}
	// Up once the WebUI answers; before login that is 403.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/api/v2/app/webapiVersion")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("qbittorrent-nox exited before serving: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("qbittorrent-nox did not serve within 30s: %v\n%s", err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// swarm is a loopback swarm both servers download from: a seeder with a
// multi-file torrent (added as a .torrent announcing to a loopback
// tracker) and a single file (added as a magnet with x.pe set to the
// seeder), uploading at a bounded rate so that a download is seen
// running.
type swarm struct {
	seeder  *enginetest.Seeder
	tracker *enginetest.Tracker
	multi   *enginetest.Torrent
	single  *enginetest.Torrent
	// held is a small file for a torrent added stopped.
	held *enginetest.Torrent
}

func startSwarm(t *testing.T, seed uint64) *swarm {
	t.Helper()
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 4 << 20})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	mc := enginetest.MultiFile(seed)
	mc.Trackers = []string{tracker.URL}
	multi := enginetest.Generate(t, mc)
	single := enginetest.Generate(t, enginetest.Content{Name: "single.bin", Size: 3_000_017, Seed: seed + 1})
	held := enginetest.Generate(t, enginetest.Content{Name: "held.bin", Size: 70_001, Seed: seed + 2})
	for _, tr := range []*enginetest.Torrent{multi, single, held} {
		seeder.Seed(t, tr)
	}
	return &swarm{seeder: seeder, tracker: tracker, multi: multi, single: single, held: held}
}

// magnet is the single file's magnet, naming the seeder (x.pe) and the
// tracker (tr): Sonarr refuses a magnet without a tracker when DHT is off.
func (s *swarm) magnet() string { return s.magnetOf(s.single) }

func (s *swarm) magnetOf(tr *enginetest.Torrent) string {
	return tr.Magnet([]string{s.seeder.Addr}, s.tracker.URL)
}

// torrentFile writes the multi-file .torrent into dir and returns its path.
func (s *swarm) torrentFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "multi.torrent")
	if err := os.WriteFile(p, s.multi.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// session is a plain HTTP client of one server, holding the SID cookie
// a login gave; edit hooks change a request before it is sent (a foreign
// Origin, another Host).
type session struct {
	t   *testing.T
	srv *server
	sid string
	// basic, if set, sends the credentials as HTTP Basic on every
	// request, as Sonarr's HTTP client does.
	basic bool
}

// reply is what a request got.
type reply struct {
	status int
	body   string
	header http.Header
}

func (r reply) String() string { return fmt.Sprintf("HTTP %d %q", r.status, r.body) }

// do sends one request: a GET with query, or a POST with a form (or a
// prepared body and content type).
func (s *session) do(method, path string, query url.Values, body io.Reader, contentType string, edit func(*http.Request)) reply {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := s.srv.base + "/api/v2/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if s.sid != "" {
		req.AddCookie(&http.Cookie{Name: "SID", Value: s.sid})
	}
	if s.basic {
		req.SetBasicAuth(s.srv.user, s.srv.pass)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s on %s: %v", method, path, s.srv.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s on %s: read: %v", method, path, s.srv.name, err)
	}
	return reply{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (s *session) get(path string, query url.Values) reply {
	s.t.Helper()
	return s.do(http.MethodGet, path, query, nil, "", nil)
}

func (s *session) post(path string, form url.Values) reply {
	s.t.Helper()
	return s.do(http.MethodPost, path, nil, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", nil)
}

// login posts the credentials and keeps the SID cookie it sets.
func (s *session) login(user, pass string) reply {
	s.t.Helper()
	r := s.post("auth/login", url.Values{"username": {user}, "password": {pass}})
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "SID" {
			s.sid = c.Value
		}
	}
	return r
}

// multipartForm builds a multipart/form-data body as Sonarr's
// HttpRequestBuilder.ApplyFormData does: the parts in order, a file part
// with its file name and Content-Type application/octet-stream, and a
// boundary of 29 dashes and 14 hex digits.
func multipartForm(t *testing.T, parts []formPart) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(fmt.Sprintf("-----------------------------%014x", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		var err error
		if p.file != "" {
			var fw io.Writer
			if fw, err = w.CreateFormFile(p.name, p.file); err == nil {
				_, err = fw.Write(p.data)
			}
		} else {
			err = w.WriteField(p.name, string(p.data))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, w.FormDataContentType()
}

// formPart is one field of a form; file is set for an upload.
type formPart struct {
	name, file string
	data       []byte
}

// waitUntil polls cond every 100 ms, failing the test after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gone reports whether nothing exists at path.
func gone(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}
