package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apikeys"
	"github.com/lodestone-bt/lodestone/internal/apiserver"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/eventfeed"
	"github.com/lodestone-bt/lodestone/internal/cluster/keyring"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// subjectPrefix is the first token of every subject the cluster uses.
const subjectPrefix = "lodestone"

// Local is what a node needs of its own daemon. The daemon fills it in
// once its API server exists (Node.Run).
type Local struct {
	// Call runs an API method here, never routed (apiserver.Server.Call).
	Call func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	// Identify checks a task.add and names the task (service.Identify).
	Identify func(ctx context.Context, p api.TaskAddParams) (api.TaskAddParams, api.TaskAddResult, []byte, error)
	// Tasks lists this daemon's tasks (service.List).
	Tasks func() []api.Task
	// Status reports free disk and rates for the heartbeat; Tasks and
	// MaxTasks are filled in by the node.
	Status func() membership.Status
	// Hub is the daemon's own event hub, forwarded into the cluster's
	// stream.
	Hub *events.Hub
	// Settings is the daemon's store: it keeps the event forwarder's
	// position in Hub and the ids of the local tasks this node put in
	// the task list (reconcile.go) across restarts.
	Settings Settings
}

// Settings is the local store's settings (store.Store).
type Settings interface {
	Setting(key string) ([]byte, error)
	PutSetting(key string, value []byte) error
}

// Deps are what Start needs besides the Config.
type Deps struct {
	// DataDir is the daemon's data dir; an embedded server keeps its
	// JetStream data under DataDir/cluster/nats.
	DataDir string
	// APIURL is this daemon's WebSocket API URL, published in
	// heartbeats: other nodes proxy /files to it.
	APIURL string
	// Version is the daemon's version, published in heartbeats.
	Version string
	// Token is this daemon's API token; TokenGiven says the operator
	// gave it (not generated), so it is not replaced by the cluster's.
	Token      string
	TokenGiven bool
	Logger     *slog.Logger
}

// Node is a daemon's membership of a cluster. Start joins; Run starts the
// work that needs the daemon's API server; Close leaves.
type Node struct {
	cfg  Config
	deps Deps
	id   string
	log  *slog.Logger

	nats    *natsnode.Node
	mem     *membership.Membership
	bus     *bus.Bus
	tasks   *tasklist.List
	ring    *keyring.Ring
	mirror  *events.Hub
	source  *eventfeed.Source
	token   string
	local   Local
	started time.Time

	// statusMu guards what status reads: membership's heartbeat goroutine
	// calls status while Start is still opening the task list and before
	// Run sets local (a data race under -race otherwise).
	statusMu    sync.Mutex
	statusTasks *tasklist.List
	statusLocal func() membership.Status

	// dropping holds the ids of local tasks being dropped because they
	// belong elsewhere: their events are not forwarded.
	dropping sync.Map
	// reg is the set of task ids this node has had in the task list.
	reg registry
	// kick asks the reconciler for a pass now.
	kick chan struct{}
	// connected mirrors the NATS connection's state.
	connected atomic.Bool
	// done caches the results of commands handled recently, by id, so a
	// redelivered command is answered without running twice.
	doneMu sync.Mutex
	done   map[string]json.RawMessage
	order  []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start joins the cluster: it starts (or connects to) NATS, takes its seat
// (membership), opens the streams and the task list, and agrees the API
// token with the cluster. It returns once the node sees the cluster's
// state. The caller must Close it.
func Start(ctx context.Context, cfg Config, deps Deps) (_ *Node, err error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, deps: deps, id: cfg.NodeID, log: deps.Logger, kick: make(chan struct{}, 1),
		done: make(map[string]json.RawMessage), started: time.Now()}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	opts := natsnode.Options{
		Name: n.id, ClusterName: cfg.Name, URLs: cfg.URLs,
		StoreDir: filepath.Join(deps.DataDir, "cluster", "nats"),
		Listen:   cfg.ClientAddr, ClusterListen: cfg.Listen, Routes: cfg.Routes,
		User: cfg.User, Password: cfg.Password, CredsFile: cfg.CredsFile,
		TLSCA: cfg.TLSCA, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey,
		Logger: n.log.With("component", "natsnode"),
	}
	if n.nats, err = natsnode.Start(ctx, opts); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	nc := n.nats.Conn
	n.connected.Store(nc.IsConnected())
	replicas := n.replicas()
	if n.mem, err = membership.Join(ctx, membership.Config{
		JS: n.nats.JS, NodeID: n.id, ClusterName: cfg.Name, APIURL: deps.APIURL, Version: deps.Version,
		TTL: cfg.FailoverAfter, Replicas: replicas, Status: n.status,
		Logger: n.log.With("component", "membership"),
	}); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	bcfg := bus.Default()
	bcfg.Replicas = replicas
	bcfg.Logger = n.log.With("component", "bus")
	if n.bus, err = bus.New(ctx, nc, bcfg); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if n.tasks, err = tasklist.Open(ctx, tasklist.Config{
		JS: n.nats.JS, Replicas: replicas, OnChange: n.taskChanged,
		CheckInterval: listCheckInterval(cfg.FailoverAfter),
		Logger:        n.log.With("component", "tasklist"),
	}); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.statusMu.Lock()
	n.statusTasks = n.tasks
	n.statusMu.Unlock()
	if n.token, err = keyring.Token(ctx, n.nats.JS, replicas, deps.Token, deps.TokenGiven); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.source = eventfeed.NewSource(n.bus, n.log.With("component", "eventfeed"))
	if n.mirror, err = events.NewMirror(n.source, events.Options{Ephemeral: api.EphemeralEvents}); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return n, nil
}

// listCheckInterval is how often the task list's watcher is checked
// against its stream: a fifth of the failover time, from 2 s to 10 s. A
// watcher whose consumer died with a node's server is silent until two
// checks disagree, and the node that failover placed the dead node's
// tasks on only adopts them once its watcher delivers the moves: with the
// 10 s default that took 11-20 s after task.moved when the failover time
// was 5 s (TestClusterFailoverSIGKILL). A check is one stream info
// request.
func listCheckInterval(failover time.Duration) time.Duration {
	return min(max(failover/5, 2*time.Second), tasklist.DefaultCheckInterval)
}

// replicas is how many copies of each stream and bucket to keep: one per
// server up to three.
func (n *Node) replicas() int {
	servers := 1
	if n.cfg.Embedded {
		servers += len(n.cfg.Routes)
	} else {
		servers = max(len(n.nats.Conn.Servers()), len(n.cfg.URLs))
	}
	return bus.Replicas(servers)
}

// ID is this node's id.
func (n *Node) ID() string { return n.id }

// Info names the cluster and this node for server.info.
func (n *Node) Info() *api.ClusterInfo { return &api.ClusterInfo{Name: n.cfg.Name, Node: n.id} }

// Token is the cluster's API token, valid on every node.
func (n *Node) Token() string { return n.token }

// Events is the hub of the cluster's events that the API server serves
// clients from: the mirror of the event stream.
func (n *Node) Events() *events.Hub { return n.mirror }

// Conn is the node's NATS connection (keyring, tests).
func (n *Node) Conn() *nats.Conn { return n.nats.Conn }

// KeyMethods starts keeping keys equal to the cluster's API keys and
// serves key.create, key.list and key.revoke from the cluster's.
func (n *Node) KeyMethods(methods map[string]apiserver.Handler, keys *apikeys.Keys) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ring, err := keyring.Start(ctx, keyring.Config{JS: n.nats.JS, Replicas: n.replicas(), Keys: keys,
		Logger: n.log.With("component", "keyring")})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.ring = ring
	methods[api.MethodKeyCreate] = apiserver.Method(ring.Create)
	methods[api.MethodKeyList] = apiserver.Method(ring.List)
	methods[api.MethodKeyRevoke] = apiserver.Method(ring.Revoke)
	return nil
}

// Run starts the node's work that needs its daemon: answering reads and
// commands, forwarding events, the reconciler and the failover
// coordinator. It returns at once; Close stops them.
func (n *Node) Run(local Local) error {
	n.local = local
	n.statusMu.Lock()
	n.statusLocal = local.Status
	n.statusMu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	stopRPC, err := rpc.Serve(ctx, n.nats.Conn, subjectPrefix, n.id, n.serveRead, n.log.With("component", "rpc"))
	if err != nil {
		cancel()
		return fmt.Errorf("cluster: %w", err)
	}
	n.goRun(func() { <-ctx.Done(); stopRPC() })
	n.goRun(func() {
		if err := n.bus.Receive(ctx, n.id, n.handleCommand); err != nil {
			n.log.Error("command receiver stopped", "err", err)
		}
	})
	fwd, err := eventfeed.NewForwarder(eventfeed.ForwardConfig{
		Node: n.id, Hub: local.Hub, Cursor: local.Settings, Bus: n.bus, Conn: n.nats.Conn,
		Prefix: subjectPrefix, Keep: n.forwardable, Logger: n.log.With("component", "eventfeed"),
	})
	if err != nil {
		cancel()
		return fmt.Errorf("cluster: %w", err)
	}
	n.goRun(func() {
		if err := fwd.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			n.log.Error("event forwarder stopped", "err", err)
		}
	})
	n.goRun(func() {
		err := eventfeed.Mirror(ctx, eventfeed.MirrorConfig{
			Hub: n.mirror, Source: n.source, Bus: n.bus, Conn: n.nats.Conn, Prefix: subjectPrefix,
			Logger: n.log.With("component", "eventfeed"),
		})
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, events.ErrClosed) {
			n.log.Error("event mirror stopped", "err", err)
		}
	})
	// The heartbeats so far had no free disk to report (no daemon yet):
	// placement would skip this node until the next one.
	bctx, bcancel := context.WithTimeout(ctx, 10*time.Second)
	if err := n.mem.Beat(bctx); err != nil {
		n.log.Warn("heartbeat", "err", err)
	}
	bcancel()
	n.goRun(func() { n.watchConnection(ctx) })
	n.goRun(func() { n.rewatchOnLoss(ctx) })
	n.goRun(func() { n.reconcileLoop(ctx) })
	n.goRun(func() { n.coordinate(ctx) })
	return nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f() }()
}

// Close stops the node's work and its heartbeats, and closes NATS. The
// others see the node gone once its heartbeat expires, as after a crash.
func (n *Node) Close() {
	n.once.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		if n.mem != nil {
			// The key is left to expire: a node restarting (an
			// upgrade) keeps its tasks unless it stays away longer
			// than the failover time.
			n.mem.Close()
		}
		if n.tasks != nil {
			n.tasks.Close()
		}
		if n.ring != nil {
			n.ring.Close()
		}
		if n.mirror != nil {
			n.mirror.Close()
		}
		if n.nats != nil {
			n.nats.Shutdown()
		}
	})
}

// status is the heartbeat's report: the daemon's free disk and rates, and
// the task list's count of tasks placed here.
func (n *Node) status() membership.Status {
	n.statusMu.Lock()
	tasks, local := n.statusTasks, n.statusLocal
	n.statusMu.Unlock()
	var st membership.Status
	if local != nil {
		st = local()
	}
	st.MaxTasks = n.cfg.MaxTasks
	if tasks != nil {
		st.Tasks = tasks.Counts()[n.id]
	}
	return st
}

// watchConnection follows the NATS connection: while it is down the node
// refuses cluster work (Route says so with 216), and an alert says so.
func (n *Node) watchConnection(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		up := n.nats.Conn.IsConnected() && n.seated()
		if up == n.connected.Swap(up) {
			continue
		}
		if up {
			n.log.Info("cluster connection back: accepting cluster work again")
			n.alert(api.LevelInfo, "connection to the cluster is back: this node accepts cluster work again")
			n.kickReconcile()
		} else {
			n.log.Error("cluster connection lost: refusing cluster work until it is back")
			msg := "connection to the cluster lost: this node refuses cluster work (task.add, commands, task.list) until it is back; its own tasks go on"
			n.alert(api.LevelError, msg)
			n.alertHere(api.LevelError, msg)
		}
	}
}

// seated reports whether this node sees its own heartbeat in its live
// list, that is, whether the cluster's state reaches it again. After a
// partition longer than the failover time the connection comes back
// before the membership's watchers do (up to a third of the failover
// time later), and until then the live list is empty: task.add would be
// answered 214 "no live node" instead of 216. A node that just started
// is given the failover time to see its first heartbeat.
func (n *Node) seated() bool {
	if time.Since(n.started) < n.mem.TTL() {
		return true
	}
	for _, nd := range n.mem.Live() {
		if nd.ID == n.id {
			return true
		}
	}
	return false
}

// alert publishes an engine.alert on this daemon's own hub (forwarded to
// the cluster when it can be).
func (n *Node) alert(level, msg string) { n.taskAlert("", level, msg) }

// taskAlert is alert about one task (taskID may be "").
func (n *Node) taskAlert(taskID, level, msg string) {
	if n.local.Hub == nil {
		return
	}
	if _, err := n.local.Hub.Publish(api.EventEngineAlert, api.EngineAlertData{TaskID: taskID, Level: level, Message: msg}); err != nil {
		n.log.Error("publish alert", "err", err)
	}
}

// alertHere delivers an engine.alert to this node's own clients at once.
// Their events come from the cluster's stream (the mirror), which the
// alert published by alert reaches only once the connection is back: a
// client of a node cut off from NATS would not learn why its calls fail
// until then. The alert goes to them as an unlogged snapshot; the logged
// one follows through the stream after the reconnect.
func (n *Node) alertHere(level, msg string) {
	if n.mirror == nil {
		return
	}
	data, _ := json.Marshal(api.EngineAlertData{Level: level, Message: msg})
	if err := n.mirror.InjectSnapshot(api.EventEngineAlert, "cluster-connection", n.id, data); err != nil && !errors.Is(err, events.ErrClosed) {
		n.log.Error("deliver an alert to this node's clients", "err", err)
	}
}

// storeFailed is the answer to a call whose write to JetStream (the task
// list, the command stream) failed although the node is connected: the
// servers are electing a leader, or a quorum is away. Nothing was
// acknowledged, so the client may try again, here or on another node;
// 216 says so, where a plain error would be 500 "internal".
func (n *Node) storeFailed(what string, err error) error {
	n.log.Warn("the cluster did not take a write", "what", what, "err", err)
	return &api.Error{Code: api.CodeClusterUnavailable,
		Message: fmt.Sprintf("node %s could not %s (%v): the cluster is not answering; try again", n.id, what, err)}
}

// unavailable is the answer to cluster work while NATS is away.
func (n *Node) unavailable() error {
	return &api.Error{Code: api.CodeClusterUnavailable,
		Message: fmt.Sprintf("node %s has lost its connection to the cluster; try another node, or again when it is back", n.id)}
}
