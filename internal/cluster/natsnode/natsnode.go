// Package natsnode gives a cluster node its NATS connection: either an
// embedded NATS server with JetStream (store dir, client listen address,
// cluster name and routes to the other nodes' embedded servers) or a
// connection to an existing NATS deployment, authenticated with a user and
// password or a creds file, over TLS when a CA or client certificate is given.
//
// Design decisions:
//   - One Options struct serves both modes: URLs set means "connect to these
//     servers"; otherwise the node embeds a server and connects to it in
//     process. The caller gets the same *nats.Conn and jetstream.JetStream
//     either way, so nothing above this package knows which mode runs.
//   - The embedded server's NATS cluster name is the Lodestone cluster name,
//     so embedded servers of two different Lodestone clusters refuse each
//     other's routes at the NATS level. A node talking to an external NATS
//     cannot rely on that; internal/cluster/membership checks the name again
//     through a key written by the first node that joins.
//   - Routes use the same user and password as clients, so an open cluster
//     port does not let a stranger join the JetStream cluster.
//   - The server's log goes through the node's slog logger; the server never
//     installs signal handlers (only main touches signals).
//   - Start waits, within its context, until the server accepts clients and
//     JetStream answers, so a caller can create streams at once. In a NATS
//     cluster JetStream answers only once the servers elected a meta leader,
//     and an embedded server with a cluster port opens its client port only
//     once routes to its peers are up: a node whose peers are all down waits
//     for them (as long as ctx allows) rather than running a cluster of one
//     that could diverge. Start every node of a cluster with routes to the
//     others; any majority of them then comes up.
package natsnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure a node's NATS. Every field is optional except Name and
// StoreDir (embedded mode).
type Options struct {
	// Name is the node id; it is the embedded server's name and the client
	// connection's name.
	Name string
	// ClusterName is the Lodestone cluster's name; the embedded server uses
	// it as its NATS cluster name.
	ClusterName string
	// URLs, when set, are the NATS servers to connect to; no server is
	// embedded and the fields below marked "embedded" are ignored.
	URLs []string
	// StoreDir is where the embedded server keeps JetStream data (embedded).
	StoreDir string
	// Listen is the embedded server's client address, host:port; port 0
	// lets the server pick (embedded). Empty means 127.0.0.1:0.
	Listen string
	// ClusterListen is the embedded server's route address, host:port
	// (embedded). Empty means a standalone server with no routes.
	ClusterListen string
	// Routes are the other embedded servers' route addresses, host:port or
	// nats-route://host:port (embedded).
	Routes []string
	// User and Password authenticate clients and routes; the embedded
	// server requires them when set.
	User, Password string
	// CredsFile is a NATS creds file (JWT and nkey seed) for the connection
	// to external servers.
	CredsFile string
	// TLSCA is a PEM file of the CA that signed the servers' certificates.
	TLSCA string
	// TLSCert and TLSKey are the PEM certificate and key: the embedded
	// server serves clients with them, and the client presents them.
	TLSCert, TLSKey string
	// Logger receives the server's and the connection's messages; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports the first problem with o.
func (o Options) Validate() error {
	if o.Name == "" {
		return errors.New("natsnode: a node name is required")
	}
	if strings.ContainsAny(o.Name, " .*>") {
		return fmt.Errorf("natsnode: node name %q must not contain spaces, dots, * or >", o.Name)
	}
	if o.ClusterName != "" && strings.ContainsAny(o.ClusterName, " .*>") {
		return fmt.Errorf("natsnode: cluster name %q must not contain spaces, dots, * or >", o.ClusterName)
	}
	if o.CredsFile != "" && o.User != "" {
		return errors.New("natsnode: use a creds file or a user and password, not both")
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("natsnode: a TLS certificate needs its key and the other way round")
	}
	if len(o.URLs) == 0 {
		if o.StoreDir == "" {
			return errors.New("natsnode: an embedded server needs a store dir")
		}
		if o.CredsFile != "" {
			return errors.New("natsnode: an embedded server takes a user and password, not a creds file")
		}
		if len(o.Routes) > 0 && o.ClusterListen == "" {
			return errors.New("natsnode: routes need a cluster listen address")
		}
	}
	return nil
}

// Node is a running NATS connection, and the embedded server behind it when
// there is one.
type Node struct {
	// Server is the embedded server, nil when connected to external NATS.
	Server *server.Server
	// Conn is the node's connection; Shutdown closes it.
	Conn *nats.Conn
	// JS is the JetStream context on Conn.
	JS jetstream.JetStream
}

// ErrNotReady is returned by Start when the embedded server did not accept
// clients before the context ended.
var ErrNotReady = errors.New("natsnode: embedded server not ready")

// Start starts the embedded server (unless o.URLs is set), connects to it or
// to o.URLs and waits until JetStream answers or ctx ends. On error nothing
// is left running. The caller must call Shutdown.
func Start(ctx context.Context, o Options) (*Node, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "natsnode", "node", o.Name)
	n := &Node{}
	urls := o.URLs
	if len(urls) == 0 {
		s, err := startServer(ctx, o, log)
		if err != nil {
			return nil, err
		}
		n.Server = s
		urls = []string{s.ClientURL()}
	}
	nc, err := connect(urls, o, log)
	if err != nil {
		n.Shutdown()
		return nil, err
	}
	n.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		n.Shutdown()
		return nil, fmt.Errorf("natsnode: jetstream: %w", err)
	}
	n.JS = js
	if err := waitJetStream(ctx, js); err != nil {
		n.Shutdown()
		return nil, err
	}
	return n, nil
}

// Shutdown closes the connection, then shuts the embedded server down and
// waits until it has stopped. It is safe to call more than once.
func (n *Node) Shutdown() {
	if n.Conn != nil {
		n.Conn.Close()
	}
	if n.Server != nil {
		n.Server.Shutdown()
		n.Server.WaitForShutdown()
	}
}

// ClientURL is the embedded server's client URL ("" without one).
func (n *Node) ClientURL() string {
	if n.Server == nil {
		return ""
	}
	return n.Server.ClientURL()
}

func startServer(ctx context.Context, o Options, log *slog.Logger) (*server.Server, error) {
	host, port, err := splitHostPort(o.Listen, "127.0.0.1", 0)
	if err != nil {
		return nil, fmt.Errorf("natsnode: listen: %w", err)
	}
	so := &server.Options{
		ServerName: o.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		NoSigs:     true,
		Username:   o.User,
		Password:   o.Password,
	}
	if port == 0 {
		so.Port = server.RANDOM_PORT
	}
	if o.TLSCert != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.TLSCert, KeyFile: o.TLSKey, CaFile: o.TLSCA})
		if err != nil {
			return nil, fmt.Errorf("natsnode: tls: %w", err)
		}
		so.TLSConfig = tc
		so.TLS = true
	}
	if o.ClusterListen != "" {
		ch, cp, err := splitHostPort(o.ClusterListen, "127.0.0.1", -1)
		if err != nil {
			return nil, fmt.Errorf("natsnode: cluster listen: %w", err)
		}
		so.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: ch, Port: cp, Username: o.User, Password: o.Password}
		for _, r := range o.Routes {
			u, err := routeURL(r, o.User, o.Password)
			if err != nil {
				return nil, err
			}
			so.Routes = append(so.Routes, u)
		}
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsnode: server: %w", err)
	}
	s.SetLoggerV2(serverLogger{log}, false, false, false)
	s.Start()
	// A server with a cluster port but no peer up yet waits for routes
	// before it opens its listeners, so the wait is bounded by ctx alone.
	for !s.ReadyForConnections(250 * time.Millisecond) {
		if ctx.Err() != nil {
			s.Shutdown()
			s.WaitForShutdown()
			return nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
		}
	}
	return s, nil
}

func connect(urls []string, o Options, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: our own Close
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			warnOldServer(c, log)
		}),
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("natsnode: connect: %w", err)
	}
	warnOldServer(nc, log)
	return nc, nil
}

// UnsafeCAS reports whether a NATS server of this version ("2.9.10") may
// accept two concurrent compare-and-set writes to one key of a replicated
// stream: before 2.9.21 the server checked a write's expected last
// per-subject sequence only before proposing it to the stream's Raft group,
// not when applying it (nats-server issue 4320). Key-value creates (expected
// sequence 0) were checked on apply and are safe. Debian 12 ships 2.9.10.
func UnsafeCAS(version string) bool {
	var v [3]int
	for i, part := range strings.SplitN(strings.SplitN(version, "-", 2)[0], ".", 3) {
		n, err := strconv.Atoi(part)
		if err != nil {
			return false // not a version we know: assume a current server
		}
		v[i] = n
	}
	return v[0] < 2 || v[0] == 2 && (v[1] < 9 || v[1] == 9 && v[2] < 21)
}

// warnOldServer logs what a server too old for safe compare-and-set means
// for the cluster: an update of a task's entry racing another through a
// different server may be lost.
func warnOldServer(nc *nats.Conn, log *slog.Logger) {
	if v := nc.ConnectedServerVersion(); UnsafeCAS(v) {
		log.Warn("this NATS server's compare-and-set is not atomic across servers (fixed in nats-server 2.9.21): two concurrent updates of one task entry through different servers may both succeed and one be lost; use nats-server 2.9.21 or later",
			"server_version", v, "url", nc.ConnectedUrlRedacted())
	}
}

// waitJetStream asks for the account info until JetStream answers: in a
// fresh NATS cluster it is unavailable until a meta leader is elected.
func waitJetStream(ctx context.Context, js jetstream.JetStream) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsnode: waiting for jetstream: %w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func splitHostPort(addr, defHost string, defPort int) (string, int, error) {
	if addr == "" {
		return defHost, defPort, nil
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if h == "" {
		h = defHost
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if port == 0 {
		port = defPort
	}
	return h, port, nil
}

func routeURL(r, user, pass string) (*url.URL, error) {
	if !strings.Contains(r, "://") {
		r = "nats-route://" + r
	}
	u, err := url.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("natsnode: route %q: %w", r, err)
	}
	if user != "" && u.User == nil {
		u.User = url.UserPassword(user, pass)
	}
	return u, nil
}

// serverLogger hands the embedded server's log lines to slog. The server
// formats its own messages, so they arrive as one string attribute.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(f string, v ...any) {
	l.log.Debug("nats server", "text", fmt.Sprintf(f, v...))
}
func (l serverLogger) Warnf(f string, v ...any) {
	l.log.Warn("nats server", "text", fmt.Sprintf(f, v...))
}
func (l serverLogger) Fatalf(f string, v ...any) {
	l.log.Error("nats server", "text", fmt.Sprintf(f, v...))
}
func (l serverLogger) Errorf(f string, v ...any) {
	l.log.Error("nats server", "text", fmt.Sprintf(f, v...))
}
func (l serverLogger) Debugf(f string, v ...any) {
	l.log.Debug("nats server", "text", fmt.Sprintf(f, v...))
}
func (l serverLogger) Tracef(f string, v ...any) {}
