package natsnodetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DebianPath is where Debian's nats-server package installs the server.
const DebianPath = "/usr/sbin/nats-server"

// DebianOptions tune DebianCluster. The zero value is a cluster named
// "lodestone-debian" without authentication.
type DebianOptions struct {
	// ClusterName is the NATS cluster's name; "" means "lodestone-debian".
	ClusterName string
	// User and Password, when set, are required of clients and of routes
	// (the servers' authorization and cluster authorization blocks).
	User, Password string
	// TLSCert and TLSKey, when set, are the servers' PEM certificate and
	// key: clients must then speak TLS (routes stay plain, on loopback).
	// TLSCA is the CA the readiness probe trusts.
	TLSCert, TLSKey, TLSCA string
}

// Debian is a NATS cluster of Debian's nats-server processes on loopback,
// each with its own config file and JetStream store dir under the test's
// temporary dir. The packaged system service plays no part: every server is
// a child of the test with an explicit config, and all are killed and
// reaped when the test ends.
type Debian struct {
	// URLs are the servers' client URLs, nats://127.0.0.1:port, one per
	// server in order; they stay the same across Stop and Start.
	URLs []string
	// Names are the servers' names (server_name), as JetStream reports
	// them in stream and meta leader info.
	Names []string

	t    testing.TB
	bin  string
	opts DebianOptions
	dir  string

	// mu guards procs; each entry is nil while its server is stopped.
	mu    sync.Mutex
	procs []*debianProc
}

type debianProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited and been reaped
}

// RequireDebian returns the path of Debian's nats-server. When it is missing
// the test fails under CI=true (scripts/test installs the package) and is
// skipped elsewhere, saying why.
func RequireDebian(t testing.TB) string {
	t.Helper()
	bin := DebianPath
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("nats-server")
		if lerr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the external NATS interop test needs Debian's nats-server (scripts/test installs the nats-server package): %v", err)
			}
			t.Skipf("skipping: no nats-server binary (apt-get install nats-server): %v", err)
		}
		bin = p
	}
	return bin
}

// DebianCluster starts n nats-server processes routed into one NATS cluster
// with JetStream (n == 1: one standalone server), and returns once every server accepts clients and
// JetStream answers through it (so the cluster has a meta leader). The
// servers are killed and reaped when the test ends; the cleanup fails the
// test if any process of theirs is left.
func DebianCluster(t testing.TB, n int, opts DebianOptions) *Debian {
	t.Helper()
	bin := RequireDebian(t)
	if opts.ClusterName == "" {
		opts.ClusterName = "lodestone-debian"
	}
	d := &Debian{t: t, bin: bin, opts: opts, dir: t.TempDir(), procs: make([]*debianProc, n)}
	ports, err := freePorts(2 * n) // client and route port of each
	if err != nil {
		t.Fatal(err)
	}
	routePorts := ports[n:]
	for i := range n {
		d.URLs = append(d.URLs, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
		d.Names = append(d.Names, fmt.Sprintf("nats%d", i))
	}
	for i := range n {
		if err := d.writeConfig(i, routePorts); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(d.cleanup)
	// Start all before waiting for any: a clustered server's JetStream
	// answers only once a majority of its peers is up.
	for i := range n {
		if err := d.spawn(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		d.waitReady(i, 90*time.Second)
	}
	return d
}

func (d *Debian) serverDir(i int) string { return filepath.Join(d.dir, d.Names[i]) }

// ConfigPath is server i's config file.
func (d *Debian) ConfigPath(i int) string { return filepath.Join(d.serverDir(i), "nats-server.conf") }

// LogPath is server i's log file.
func (d *Debian) LogPath(i int) string { return filepath.Join(d.serverDir(i), "nats-server.log") }

// Index returns the index of the server named name (as JetStream reports a
// leader), or -1.
func (d *Debian) Index(name string) int {
	for i, n := range d.Names {
		if n == name {
			return i
		}
	}
	return -1
}

// StreamLeader returns the index of the server leading stream, asking the
// cluster through a connection of its own; it fails the test if no leader
// is known within 30 s (an election takes seconds).
func (d *Debian) StreamLeader(stream string) int {
	d.t.Helper()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		leader, err := d.streamLeader(stream)
		if err == nil {
			if i := d.Index(leader); i >= 0 {
				return i
			}
			err = fmt.Errorf("leader %q is none of %v", leader, d.Names)
		}
		last = err
	}
	d.t.Fatalf("natsnodetest: leader of %s: %v", stream, last)
	return -1
}

func (d *Debian) streamLeader(stream string) (string, error) {
	d.mu.Lock()
	var urls []string
	for i, p := range d.procs {
		if p != nil {
			urls = append(urls, d.URLs[i])
		}
	}
	d.mu.Unlock()
	opts := []nats.Option{nats.NoReconnect(), nats.Timeout(2 * time.Second)}
	if d.opts.User != "" {
		opts = append(opts, nats.UserInfo(d.opts.User, d.opts.Password))
	}
	if d.opts.TLSCA != "" {
		opts = append(opts, nats.RootCAs(d.opts.TLSCA))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return "", err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", errors.New("no leader yet")
	}
	return info.Cluster.Leader, nil
}

// Version returns the servers' version as nats-server --version prints it
// ("nats-server: v2.9.10").
func (d *Debian) Version() string {
	out, err := exec.Command(d.bin, "--version").CombinedOutput()
	if err != nil {
		d.t.Fatalf("nats-server --version: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

func (d *Debian) writeConfig(i int, routePorts []int) error {
	if err := os.MkdirAll(filepath.Join(d.serverDir(i), "jetstream"), 0o700); err != nil {
		return err
	}
	u, err := url.Parse(d.URLs[i])
	if err != nil {
		return err
	}
	var auth, routeUser string
	if d.opts.User != "" {
		auth = fmt.Sprintf("authorization {\n  user: %q\n  password: %q\n}\n", d.opts.User, d.opts.Password)
		routeUser = url.UserPassword(d.opts.User, d.opts.Password).String() + "@"
	}
	var routes []string
	for j, p := range routePorts {
		if j != i {
			routes = append(routes, fmt.Sprintf("    %q", fmt.Sprintf("nats-route://%s127.0.0.1:%d", routeUser, p)))
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "server_name: %q\nlisten: %q\nlog_file: %q\nlogtime: true\n", d.Names[i], u.Host, d.LogPath(i))
	fmt.Fprintf(&b, "jetstream {\n  store_dir: %q\n}\n", filepath.Join(d.serverDir(i), "jetstream"))
	b.WriteString(auth)
	if d.opts.TLSCert != "" {
		fmt.Fprintf(&b, "tls {\n  cert_file: %q\n  key_file: %q\n}\n", d.opts.TLSCert, d.opts.TLSKey)
	}
	if len(routePorts) > 1 { // one server alone runs JetStream standalone
		fmt.Fprintf(&b, "cluster {\n  name: %q\n  listen: \"127.0.0.1:%d\"\n", d.opts.ClusterName, routePorts[i])
		if auth != "" {
			fmt.Fprintf(&b, "  authorization {\n    user: %q\n    password: %q\n  }\n", d.opts.User, d.opts.Password)
		}
		fmt.Fprintf(&b, "  routes: [\n%s\n  ]\n}\n", strings.Join(routes, "\n"))
	}
	return os.WriteFile(d.ConfigPath(i), b.Bytes(), 0o600)
}

// spawn starts server i's process on its config.
func (d *Debian) spawn(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.procs[i] != nil {
		return fmt.Errorf("natsnodetest: server %d is running", i)
	}
	cmd := exec.Command(d.bin, "-c", d.ConfigPath(i))
	// The server dies with the test process even if the test binary is
	// killed before its cleanup runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("natsnodetest: start %s: %w", d.Names[i], err)
	}
	p := &debianProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	d.procs[i] = p
	return nil
}

// waitReady waits until server i accepts an authenticated client and
// JetStream answers through it, failing the test after timeout with the
// tail of the server's log.
func (d *Debian) waitReady(i int, timeout time.Duration) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := d.ready(ctx, i); err != nil {
		d.t.Fatalf("natsnodetest: %s not ready: %v\n%s", d.Names[i], err, d.logTail(i))
	}
}

func (d *Debian) ready(ctx context.Context, i int) error {
	d.mu.Lock()
	p := d.procs[i]
	d.mu.Unlock()
	var last error
	for {
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
		last = d.probe(ctx, i)
		if last == nil {
			return nil
		}
	}
}

// probe connects to server i alone and asks for the account's JetStream
// info, which a clustered server answers only with a meta leader elected.
func (d *Debian) probe(ctx context.Context, i int) error {
	opts := []nats.Option{nats.NoReconnect(), nats.Timeout(2 * time.Second)}
	if d.opts.User != "" {
		opts = append(opts, nats.UserInfo(d.opts.User, d.opts.Password))
	}
	if d.opts.TLSCA != "" {
		opts = append(opts, nats.RootCAs(d.opts.TLSCA))
	}
	nc, err := nats.Connect(d.URLs[i], opts...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(actx)
	return err
}

func (d *Debian) logTail(i int) string {
	b, err := os.ReadFile(d.LogPath(i))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop stops server i gracefully (SIGTERM; SIGKILL if it has not exited
// after 30 s) and waits until its process has exited.
func (d *Debian) Stop(i int) {
	d.t.Helper()
	d.end(i, syscall.SIGTERM)
}

// Kill kills server i (SIGKILL): no flush, no goodbye to its peers.
func (d *Debian) Kill(i int) {
	d.t.Helper()
	d.end(i, syscall.SIGKILL)
}

func (d *Debian) end(i int, sig syscall.Signal) {
	d.t.Helper()
	d.mu.Lock()
	p := d.procs[i]
	d.procs[i] = nil
	d.mu.Unlock()
	if p == nil {
		return
	}
	if err := stopProc(p, sig); err != nil {
		d.t.Errorf("natsnodetest: %s: %v", d.Names[i], err)
	}
}

func stopProc(p *debianProc, sig syscall.Signal) error {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("did not exit on %v within 30 s; killed", sig)
	case <-time.After(30 * time.Second):
		return errors.New("did not exit even on SIGKILL")
	}
}

// Start starts server i again after Stop or Kill, on the same config, ports
// and store dir (a restart), and waits until it accepts clients and
// JetStream answers through it.
func (d *Debian) Start(i int) {
	d.t.Helper()
	if err := d.spawn(i); err != nil {
		d.t.Fatal(err)
	}
	d.waitReady(i, 90*time.Second)
}

// cleanup stops every server, then checks that no process started on one of
// this cluster's config files is left.
func (d *Debian) cleanup() {
	d.mu.Lock()
	procs := d.procs
	d.procs = make([]*debianProc, len(procs))
	d.mu.Unlock()
	var wg sync.WaitGroup
	for i, p := range procs {
		if p == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stopProc(p, syscall.SIGTERM); err != nil {
				d.t.Errorf("natsnodetest: %s: %v", d.Names[i], err)
			}
		}()
	}
	wg.Wait()
	if left := processesUsing(d.dir); len(left) > 0 {
		d.t.Errorf("natsnodetest: nats-server processes left running: %v", left)
	}
}

// processesUsing lists the pids whose command line names something under
// dir: a server of ours that escaped.
func processesUsing(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			pids = append(pids, pid)
		}
	}
	return pids
}
