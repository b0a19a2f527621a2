// Package daemon is the composition root of `lodestone serve`: it builds the
// store, the engine, the event hub, the service and the API server, mounts
// the HTTP routes, and runs and stops them in order.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apikeys"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/connguard"
	"github.com/lodestone-bt/lodestone/internal/doctor"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/metrics"
	"github.com/lodestone-bt/lodestone/internal/qbittorrent"
	"github.com/lodestone-bt/lodestone/internal/rss"
	"github.com/lodestone-bt/lodestone/internal/schema"
	"github.com/lodestone-bt/lodestone/internal/service"
	"github.com/lodestone-bt/lodestone/internal/store"
	"github.com/lodestone-bt/lodestone/internal/stream"
	"github.com/lodestone-bt/lodestone/internal/transmission"
	"github.com/lodestone-bt/lodestone/internal/version"
	"github.com/lodestone-bt/lodestone/internal/watch"
	"github.com/lodestone-bt/lodestone/internal/webhook"
	"github.com/lodestone-bt/lodestone/internal/webui"
)

// Daemon is a running Lodestone. Create it with New, run it with Run.
type Daemon struct {
	cfg   Config
	log   *slog.Logger
	token string
	guard *httpguard.Guard // the HTTP gates of every endpoint
	// conns caps the HTTP connections no request has authenticated yet.
	conns *connguard.Guard

	store *store.Store
	eng   engine.Engine
	hub   *events.Hub
	svc   *service.Service
	api   *apiserver.Server
	// metrics is read by GET /metrics; its sources are the parts above.
	metrics *metrics.Metrics
	ln      net.Listener
	http    *http.Server
	// watch turns files dropped in watched folders into tasks.
	watch *watch.Watcher
	// qb serves qBittorrent's API.
	qb *qbittorrent.Handler
	// webhooks delivers events to the webhooks (issue 17).
	webhooks *webhook.Manager
	// rss polls the RSS feeds and applies their rules.
	rss *rss.Manager
	// keys are the scoped API keys, accepted by guard beside the token.
	keys *apikeys.Keys
	// blocklists are the IP blocklists the engine enforces (issue 18).
	blocklists *blocklists
	// cluster is this daemon's node of a cluster (cluster.go); nil for a
	// daemon of its own.
	cluster *cluster.Node
	// net is the network policy session.set changes (netsettings.go).
	net *netSettings
	// sides are the listeners serving one API alone (side.go): qbSide
	// (--qbittorrent-addr) and trSide (--transmission-addr), each nil
	// when off.
	sides          []*side
	qbSide, trSide *side

	apiAddr string // d.ln's address, kept after Close
	scheme  string // "ws", or "wss" with TLS

	// mu guards the fields below: Run starts its goroutines in group
	// (stopped by stopRun) unless Close has begun.
	mu      sync.Mutex
	group   *errgroup.Group
	stopRun context.CancelFunc
	closing bool

	// reconf is held by Reconfigure while it works, and by close
	// before the parts are closed: the two never overlap.
	reconf sync.Mutex

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and starts every part except serving, which Run does.
// On failure it closes whatever it had opened.
func New(cfg Config) (_ *Daemon, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, scheme: "ws"}
	defer func() {
		if err != nil {
			err = errors.Join(err, d.closeParts())
		}
	}()

	d.token = cfg.Token
	if d.token == "" {
		if d.token, err = LoadOrCreateToken(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	// A damaged store or piece-completion file is moved aside rather than
	// left to fail (or crash) every start; what was lost is reported below.
	var damaged []damage
	var storeDmg *store.Damage
	if d.store, storeDmg, err = store.OpenOrQuarantine(cfg.DataDir); err != nil {
		return nil, err
	}
	if storeDmg != nil {
		damaged = append(damaged, damage{storeDmg, "the task store",
			"Lodestone started with an empty store: its tasks and settings must be added again"})
	}
	if c := d.store.Compaction(); c.Err != nil {
		// The store works on: it is the old file, or (a failed directory
		// fsync) the compacted one.
		d.log.Warn("store compaction failed", "size_before", c.Before, "size_after", c.After, "err", c.Err)
	} else if c.Before > 0 {
		d.log.Info("store compacted", "size_before", c.Before, "size_after", c.After)
	}
	peerAddr, err := d.peerAddr()
	if err != nil {
		return nil, err
	}
	stateDir := filepath.Join(cfg.DataDir, "engine")
	// Checked after the store is open, whose lock keeps a second daemon
	// away from this data dir.
	pcDmg, err := store.QuarantineDamaged(filepath.Join(stateDir, engine.CompletionFileOf(cfg.Engine)))
	if err != nil {
		return nil, fmt.Errorf("check piece completion: %w", err)
	}
	if pcDmg != nil {
		damaged = append(damaged, damage{pcDmg, "the piece-completion database",
			"pieces already on disk will be verified again by hashing"})
	}
	for _, dm := range damaged {
		d.log.Error("damaged file moved aside", "what", dm.what, "file", dm.Path, "moved_to", dm.MovedTo, "err", dm.Cause, "effect", dm.effect)
	}
	if err := d.configuredNetwork(); err != nil {
		return nil, err
	}
	// The network settings session.set stored win over the flags.
	var storedNet storedNetwork
	if cfg, storedNet, err = loadNetwork(cfg, d.store); err != nil {
		return nil, err
	}
	d.cfg = cfg
	d.net = newNetSettings(cfg, storedNet, d.store, d.log.With("component", "network"))
	if cfg.Proxy != "" && !cfg.ProxyAllowDirect {
		// Proxy-only: the engine runs none of these; say so everywhere
		// they are reported (session settings, the compat APIs).
		cfg.DHT, cfg.UPnP, cfg.UTP = false, false, false
		d.cfg = cfg
	}
	if err := d.configuredBlocklists(); err != nil {
		return nil, err
	}
	d.blocklists = newBlocklists(cfg, d.store, d.net.httpDial(cfg.AllowPrivateURLs), d.log.With("component", "blocklist"))
	d.eng, err = engine.New(engine.Config{
		DownloadDir: cfg.DownloadDir,
		StateDir:    stateDir,
		PeerAddr:    peerAddr,
		DHT:         cfg.DHT,
		UPnP:        cfg.UPnP,
		UTP:         cfg.UTP,
		Logger:      d.log.With("component", "engine"),
		// A tracker on this machine or its LAN only when asked for.
		AllowPrivateTrackers: cfg.AllowPrivateTrackers,
		WriteBuffer:          int64(max(cfg.WriteBufferMiB, 0)) << 20,
		Core:                 cfg.Engine,
		Proxy:                cfg.Proxy,
		ProxyAllowDirect:     cfg.ProxyAllowDirect,
		Encryption:           cfg.Encryption,
		Anonymous:            cfg.Anonymous,
		// Every BitTorrent socket on one interface or address (issue 18).
		BindInterface: cfg.BindInterface,
		BindAddress:   cfg.BindAddress,
		// No task's file is opened in the data dir, whatever its path
		// says (Validate checked the names; this checks at every open).
		Protect:   []string{cfg.DataDir},
		Blocklist: d.blocklists.filter,
	})
	if err != nil {
		return nil, err
	}
	d.hub = events.New(d.store, events.Options{Ephemeral: api.EphemeralEvents})
	d.blocklists.hub = d.hub
	d.net.eng, d.net.hub = d.eng, d.hub
	{
		// In force before any task starts; a URL that cannot be
		// fetched does not hold the start for longer than this.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := d.blocklists.start(ctx, cfg.Blocklists)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	for _, dm := range damaged {
		// Logged, so a client that connects later reads it with
		// events.replay.
		_, err := d.hub.Publish(api.EventEngineAlert, api.EngineAlertData{
			Level:   api.LevelError,
			Message: fmt.Sprintf("%s was damaged (%v) and was moved to %s; %s", dm.what, dm.Cause, dm.MovedTo, dm.effect),
		})
		if err != nil {
			d.log.Error("publish damage alert", "err", err)
		}
	}
	d.svc, err = service.New(d.store, d.eng, d.hub, service.Options{
		DownloadDir:   cfg.DownloadDir,
		DownloadRoots: cfg.DownloadRoots,
		StateDir:      cfg.DataDir, // keeps a reserve when downloads share its disk
		Version:       version.Get().Version,
		Node:          clusterNodeID(cfg),
		Fetcher: fetch.New(fetch.Options{
			MaxBytes:     engine.MaxTorrentSize,
			AllowPrivate: cfg.AllowPrivateURLs,
			UserAgent:    engine.UserAgent(cfg.Anonymous),
			Dial:         d.net.httpDial(cfg.AllowPrivateURLs),
		}),
		Logger:          d.log.With("component", "service"),
		StallAfterFiles: cfg.TestStallAfterFiles,
		Blocklists:      d.blocklists,
		Network:         d.net,
	})
	if err != nil {
		return nil, err
	}
	if err := d.applyConfigured(); err != nil {
		return nil, err
	}
	d.metrics = metrics.New(metrics.Sources{
		Session:          d.svc.Stats,
		Engine:           func() metrics.EngineTotals { return metrics.EngineTotals(d.eng.Totals()) },
		Connections:      func() int { return d.api.Connections() },
		EventsDropped:    d.hub.Dropped,
		EventsSuperseded: d.hub.Superseded,
		Store: func() (metrics.StoreSize, bool) {
			sz, err := d.store.Size()
			return metrics.StoreSize(sz), err == nil
		},
		Blocklist: d.blocklists.metrics,
	})
	d.store.ObserveWrites(d.metrics.ObserveStoreWrite)
	if d.ln, err = net.Listen("tcp", cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("listen on api-addr: %w", err)
	}
	d.apiAddr = d.ln.Addr().String()
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		d.scheme = "wss"
	}
	// The API listens before the cluster is joined: its URL goes into
	// the heartbeats, and the token may become the cluster's.
	if err := d.joinCluster(); err != nil {
		return nil, err
	}
	d.conns = connguard.New(connguard.Config{CapLoopbackPerAddr: cfg.CapLoopbackPerAddress, Logger: d.log.With("component", "api")})
	// A side listener given by name (--qbittorrent-addr,
	// --transmission-addr) is a host requests may name.
	hosts := slices.Concat(cfg.AllowedHosts, listenerHosts(cfg.QBittorrentAddr), listenerHosts(cfg.TransmissionAddr))
	if d.keys, err = apikeys.New(d.store, d.log.With("component", "keys")); err != nil {
		return nil, err
	}
	guard, err := httpguard.New(httpguard.Config{
		Token:       d.token,
		Keys:        d.keys,
		Hosts:       hosts,
		AuthBackoff: cfg.AuthBackoff,
		Logger:      d.log.With("component", "api"),
		// A connection that carried a request with the right token is
		// the owner's: no longer capped, the normal idle timeout.
		OnAdmit: func(r *http.Request) { connguard.MarkAuthenticated(r.Context()) },
	})
	if err != nil {
		return nil, err
	}
	d.guard = guard
	// The methods of the daemon's parts beside the service (watch folders,
	// RSS, webhooks, keys): each part adds its own.
	methods := map[string]apiserver.Handler{}
	if err := d.addWatchMethods(methods); err != nil {
		return nil, err
	}
	if err := d.addWebhooks(methods); err != nil {
		return nil, err
	}
	if err := d.addRSS(methods); err != nil {
		return nil, err
	}
	methods[api.MethodKeyCreate] = apiserver.Method(d.keys.Create)
	methods[api.MethodKeyList] = apiserver.Method(d.keys.List)
	methods[api.MethodKeyRevoke] = apiserver.Method(d.keys.Revoke)
	d.addClusterMethods(methods)
	hub := d.hub
	var router apiserver.Router
	var clusterInfo *api.ClusterInfo
	if d.cluster != nil {
		// Keys are the cluster's, and clients see the cluster's events.
		if err := d.cluster.KeyMethods(methods, d.keys); err != nil {
			return nil, err
		}
		hub, router, clusterInfo = d.cluster.Events(), d.cluster, d.cluster.Info()
	}
	methods[api.MethodServerDoctor] = apiserver.Method(d.diagnose)
	d.api, err = apiserver.New(apiserver.Config{
		Methods:        methods,
		Guard:          guard,
		ObserveRequest: d.metrics.ObserveRequest,
		Logger:         d.log.With("component", "api"),
		Router:         router,
		Cluster:        clusterInfo,
	}, d.svc, hub)
	if err != nil {
		return nil, err
	}
	if err := d.runCluster(); err != nil {
		return nil, err
	}
	// The guard does the TLS wrapping itself: it tracks the connections
	// the server's hooks are given, and watches the TCP socket.
	d.ln = d.conns.Listener(d.ln, tlsConfig)
	mux := http.NewServeMux()
	mux.Handle("GET "+api.Path, d.api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /", guard.RequireHost(webui.Handler()))
	mux.Handle("GET "+schema.Path, guard.RequireHost(schema.Handler())) // public: no token
	mux.Handle("GET /metrics", guard.Authorize(d.metrics.Handler()))
	mux.Handle("GET "+api.BackupPath, guard.AuthorizeScope(api.ScopeAdmin, http.HandlerFunc(d.serveBackup)))
	// The web UI trades its token for an HttpOnly session cookie here,
	// so that its plain links (/files) are authorised.
	session := guard.SessionHandler()
	mux.Handle("POST /session", session)
	mux.Handle("DELETE /session", session)
	// Transmission's RPC, for the tools that speak it; it passes the
	// same guard (its Basic auth password is the token).
	trpc, err := transmission.New(transmission.Config{
		Service:      d.svc,
		IDs:          d.store,
		Guard:        guard,
		DownloadDir:  cfg.DownloadDir,
		PeersPerTask: engine.EstablishedConnsPerTorrent,
		Network:      transmissionNetwork(cfg),
		Logger:       d.log.With("component", "transmission"),
	})
	if err != nil {
		return nil, err
	}
	// Any method: the handshake answers GET too (Sonarr asks for the
	// session id with one), then the handler refuses all but POST.
	for _, p := range []string{transmission.Path, transmission.Path + "/"} {
		mux.Handle("GET "+p, trpc)
		mux.Handle("POST "+p, trpc)
	}
	if cfg.TransmissionAddr != "" {
		if d.trSide, err = d.listenSide("transmission rpc", "transmission-addr", cfg.TransmissionAddr, tlsConfig); err != nil {
			return nil, err
		}
		d.serveOnly(d.trSide, trpc, "GET "+transmission.Path, "POST "+transmission.Path,
			"GET "+transmission.Path+"/", "POST "+transmission.Path+"/")
	}
	// qBittorrent's WebUI API v2, likewise: its login trades the token
	// for a SID cookie, and the Host gate is the guard's.
	if cfg.QBittorrentAddr != "" {
		// Opened first: the API reports its address as the WebUI's.
		if d.qbSide, err = d.listenSide("qbittorrent api", "qbittorrent-addr", cfg.QBittorrentAddr, tlsConfig); err != nil {
			return nil, err
		}
	}
	webUIHost, webUIPort := splitPort(d.apiAddr)
	if d.qbSide != nil {
		webUIHost, webUIPort = splitPort(d.qbSide.addr)
	}
	var peerPort int
	peerAddrs := d.eng.PeerAddrs()
	for _, a := range peerAddrs {
		if ta, ok := a.(*net.TCPAddr); ok {
			peerPort = ta.Port
			break
		}
	}
	d.qb, err = qbittorrent.New(qbittorrent.Config{
		Service:     d.svc,
		Guard:       guard,
		Logger:      d.log.With("component", "qbittorrent"),
		OnAdmit:     func(r *http.Request) { connguard.MarkAuthenticated(r.Context()) },
		Events:      d.hub,
		DownloadDir: cfg.DownloadDir,
		DHT:         cfg.DHT,
		PEX:         true, // the engine exchanges peers (ut_pex) always
		UPnP:        cfg.UPnP,
		WebUIHost:   webUIHost,
		WebUIPort:   webUIPort,
		PeerPort:    func() int { return peerPort },
		Listening:   func() bool { return len(peerAddrs) > 0 },
		// Tags created and not used yet are kept in the store.
		Settings: d.store,
	})
	if err != nil {
		return nil, err
	}
	// Both methods are named: a pattern without one would conflict with
	// the web UI's "GET /".
	mux.Handle("GET "+qbittorrent.Prefix, d.qb)
	mux.Handle("POST "+qbittorrent.Prefix, d.qb)
	if d.qbSide != nil {
		d.serveOnly(d.qbSide, d.qb, "GET "+qbittorrent.Prefix, "POST "+qbittorrent.Prefix)
	}
	streams := stream.New(d.svc, d.log.With("component", "stream"))
	var files http.Handler = streams
	if d.cluster != nil {
		files = d.cluster.Files(streams) // a task of another node streams from there
	}
	mux.Handle("GET /files/{task_id}/{path...}", guard.Authorize(files))
	d.http = d.httpServer(mux)
	// Open file streams (one may wait for data indefinitely) end when
	// Shutdown starts, instead of holding it until its timeout.
	d.http.RegisterOnShutdown(streams.Close)
	// Now that the API listens, local clients may find it: they connect
	// to a backlog that Run serves.
	d.writeDaemonFiles()
	return d, nil
}

// addWebhooks builds the webhook manager and adds its methods.
func (d *Daemon) addWebhooks(methods map[string]apiserver.Handler) error {
	var err error
	d.webhooks, err = webhook.New(webhook.Config{
		Store:        d.store,
		Hub:          d.hub,
		AllowPrivate: d.cfg.AllowPrivateURLs,
		Backoff:      d.cfg.WebhookBackoff,
		MaxBackoff:   d.cfg.WebhookMaxBackoff,
		MaxAge:       d.cfg.WebhookMaxAge,
		UserAgent:    version.UserAgent(),
		Dial:         d.net.httpDial(d.cfg.AllowPrivateURLs),
		Logger:       d.log.With("component", "webhook"),
	})
	if err != nil {
		return fmt.Errorf("webhooks: %w", err)
	}
	methods[api.MethodWebhookAdd] = apiserver.Method(d.webhooks.Add)
	methods[api.MethodWebhookList] = apiserver.Method(d.webhooks.List)
	methods[api.MethodWebhookRemove] = apiserver.Method(d.webhooks.Remove)
	methods[api.MethodWebhookDeliveries] = apiserver.Method(d.webhooks.Deliveries)
	return nil
}

// TransmissionAddr returns the address of the Transmission RPC's own
// listener, "" when it is off.
func (d *Daemon) TransmissionAddr() string { return sideAddr(d.trSide) }

// transmissionNetwork tells the Transmission RPC what the engine does on
// the network. Encryption is in Transmission's words: "preferred"
// (--encryption prefer: both cores try MSE/PE first), "required", or
// "tolerated" for disable, the nearest (Transmission cannot refuse
// encrypted peers).
func transmissionNetwork(cfg Config) transmission.Network {
	enc := "preferred"
	switch cfg.Encryption {
	case engine.EncryptionRequire:
		enc = "required"
	case engine.EncryptionDisable:
		enc = "tolerated"
	}
	return transmission.Network{DHT: cfg.DHT, UTP: cfg.UTP, PortForwarding: cfg.UPnP, PEX: true, Encryption: enc}
}

// listenerHosts returns the host of a listen address when it is a name
// (IP literals and loopback names pass the Host check anyway), so that a
// request naming the listener's own host:port is accepted.
func listenerHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || net.ParseIP(host) != nil {
		return nil
	}
	return []string{host}
}

// damage is a damaged file moved aside at start, to be reported.
type damage struct {
	*store.Damage
	what   string // what the file was
	effect string // what its loss means to the user
}

// peerAddr returns the configured peer address, or all interfaces on a
// random high port picked on first start and kept in the store, so port
// forwarding rules stay valid across restarts.
func (d *Daemon) peerAddr() (string, error) {
	if d.cfg.PeerAddr != "" {
		return d.cfg.PeerAddr, nil
	}
	const key = store.SettingPeerPort
	v, err := d.store.Setting(key)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(string(v))
	if err != nil || port <= 0 {
		port = 49152 + rand.IntN(65535-49152)
		if err := d.store.PutSetting(key, []byte(strconv.Itoa(port))); err != nil {
			return "", err
		}
	}
	return ":" + strconv.Itoa(port), nil
}

// splitPort splits a listen address into its host and numeric port.
func splitPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// QBittorrentAddr returns the address of the qBittorrent API's own
// listener (--qbittorrent-addr), "" when there is none.
func (d *Daemon) QBittorrentAddr() string { return sideAddr(d.qbSide) }

// APIAddr returns the address the API listens on.
func (d *Daemon) APIAddr() string { return d.apiAddr }

// Token returns the API token in force.
func (d *Daemon) Token() string { return d.token }

// Guard returns the HTTP gates (Host, Origin, token, backoff) the daemon's
// endpoints share, for another listener of the same process to use (the
// profiler).
func (d *Daemon) Guard() *httpguard.Guard { return d.guard }

// APIURL returns the WebSocket URL of the API, without the token. On an
// API listening on every address, it names loopback (see OtherWebURLs).
func (d *Daemon) APIURL() string { return d.scheme + "://" + d.apiHostPorts()[0] + api.Path }

// URL returns a ready-to-use WebSocket URL, token included.
func (d *Daemon) URL() string { return d.APIURL() + "?token=" + d.token }

// WebURL returns the web UI's address with the token, which logs a
// browser straight in (the page then drops it from the address bar).
func (d *Daemon) WebURL() string { return d.webURLAt(d.apiHostPorts()[0]) }

// PeerAddrs returns the BitTorrent listen addresses.
func (d *Daemon) PeerAddrs() []net.Addr { return d.eng.PeerAddrs() }

// ErrClosed is returned by Run once Close has been called.
var ErrClosed = errors.New("daemon: closed")

// Run serves until ctx ends or Close is called, then shuts everything
// down in order and returns. It returns early, with the error, if serving
// or the service fails. Every goroutine it starts has ended when it
// returns. Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.closing || d.group != nil {
		d.mu.Unlock()
		if d.closing {
			return ErrClosed
		}
		return errors.New("daemon: Run called twice")
	}
	g, gctx := errgroup.WithContext(ctx)
	d.group, d.stopRun = g, cancel
	// Started under d.mu, so Close sees either no group or all of it.
	g.Go(func() error {
		if err := d.http.Serve(d.ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve api: %w", err)
		}
		return nil
	})
	for _, s := range d.sides {
		g.Go(func() error {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", s.name, err)
			}
			return nil
		})
	}
	g.Go(func() error { return d.qb.Run(gctx) })
	g.Go(func() error { return d.watch.Run(gctx) })
	g.Go(func() error { return d.webhooks.Run(gctx) })
	g.Go(func() error { return d.rss.Run(gctx) })
	g.Go(func() error { return d.keys.Run(gctx) })
	g.Go(func() error { d.blocklists.loader.Run(gctx); return nil })
	g.Go(func() error {
		if err := d.svc.Run(gctx); err != nil {
			return fmt.Errorf("service: %w", err)
		}
		return nil
	})
	// Ready once serving: the listener has been open since New, and the
	// tasks were loaded then. The watchdog's first ping follows it.
	d.notifyReady()
	if d.cfg.Notifier != nil {
		g.Go(func() error { d.supervise(gctx); return nil })
	}
	// Read under d.mu: a Close from another goroutine clears d.eng.
	peers := doctor.AddrsText(d.PeerAddrs())
	d.mu.Unlock()
	d.log.Info("serving", "api", d.APIURL(), "peer", peers)
	<-gctx.Done()
	return d.Close()
}

// Close stops serving, waits for every goroutine Run started, and closes
// every part: API connections first, then the service, the engine
// (flushing piece completion), the hub and the store. It may be called
// more than once and from any goroutine (a Run in progress then returns);
// every call waits for the first to finish and returns its error, which
// includes the error that ended Run early, if any.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() { d.closeErr = d.close() })
	return d.closeErr
}

func (d *Daemon) close() error {
	d.notifyStopping()
	d.removeDaemonFiles() // no client should find a daemon shutting down
	d.mu.Lock()
	d.closing = true
	g, stopRun := d.group, d.stopRun
	d.mu.Unlock()
	if stopRun != nil {
		stopRun() // ends the service's loop
	}
	var errs []error
	if d.http != nil {
		// Serve returns at once; requests in flight get a moment to end
		// (streams end when Shutdown starts), then are cut off.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := d.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down http: %w", err), d.http.Close())
		}
		for _, s := range d.sides {
			if err := s.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shut down %s: %w", s.name, err), s.srv.Close())
			}
		}
		cancel()
	}
	if g != nil {
		errs = append(errs, g.Wait())
	}
	// A Reconfigure under way ends first; later ones see closing.
	d.reconf.Lock()
	d.reconf.Unlock()
	errs = append(errs, d.closeParts())
	return errors.Join(errs...)
}

func (d *Daemon) closeParts() error {
	var errs []error
	if d.api != nil {
		errs = append(errs, d.api.Close())
		d.api = nil
	}
	if d.cluster != nil {
		// Before the service: a command being carried out uses it.
		d.cluster.Close()
		d.cluster = nil
	}
	if d.ln != nil {
		d.ln.Close()
		d.ln = nil
	}
	for _, s := range d.sides {
		if s.ln != nil {
			s.ln.Close()
			s.ln = nil
		}
	}
	if d.rss != nil {
		// Ends the fetches and adds in flight before the service closes.
		errs = append(errs, d.rss.Close())
		d.rss = nil
	}
	if d.svc != nil {
		errs = append(errs, d.svc.Close())
		d.svc = nil
	}
	if d.eng != nil {
		errs = append(errs, d.eng.Close())
		d.eng = nil
	}
	if d.hub != nil {
		errs = append(errs, d.hub.Close())
		d.hub = nil
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
		d.store = nil
	}
	return errors.Join(errs...)
}
