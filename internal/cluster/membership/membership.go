// Package membership tells a cluster node which nodes are live and where a
// new task goes.
//
// Design decisions:
//   - Liveness is a JetStream key-value bucket (NodesBucket) whose TTL is the
//     failover time. Each node puts its heartbeat (Node, JSON) under its id
//     every TTL/3, so two beats can be lost before its key expires. The bucket
//     places a marker when a key expires (LimitMarkerTTL), so watchers learn
//     of a dead node from the server rather than from their own clocks.
//   - Live() reads a map kept by one KV watcher goroutine; nothing polls or
//     lists keys. A watcher can be lost with its consumer (a server restart):
//     each node sees its own heartbeats come back through its watcher, and
//     when one does not, the watchers are recreated. As a second guard against a lost marker, an entry not
//     refreshed for a TTL by the local clock (the time the watcher received
//     it, never the sender's clock) is not live.
//   - Limit markers need NATS 2.11 (Debian 12 ships 2.9.10). On an older
//     server the nodes bucket is made without them and that local-clock
//     guard is the only expiry: Live drops a silent node after the same TTL,
//     but nothing is pushed to watchers when it goes (Markers reports it).
//   - The cluster-wide facts that must outlive heartbeats (the cluster name,
//     the drain flags) live in a second bucket (ClusterBucket) without a TTL.
//     The first node to join writes the name with Create, which is atomic,
//     so a node whose --cluster-name differs is refused even when the NATS it
//     reaches is shared or external. Drain writes "drain.<id>"; the flag is
//     kept apart from the heartbeat because the node itself rewrites its
//     heartbeat, and it survives the node's restart. Every member watches it
//     and applies it to Live at once; the drained node's heartbeat echoes it.
//   - Place is weighted rendezvous hashing (place.go): every node computes
//     the same answer from the same live list, without coordination, and a
//     node leaving moves only its own keys. Heartbeats carry task counts that
//     may be up to TTL/3 old, so max-tasks is a limit on what placement
//     chooses, not a reservation: a caller that places many tasks at once
//     counts its own placements (or calls Beat after each).
package membership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	// NodesBucket holds one heartbeat per live node, keyed by node id.
	NodesBucket = "lodestone_nodes"
	// ClusterBucket holds the cluster name ("name") and drain flags
	// ("drain.<id>").
	ClusterBucket = "lodestone_cluster"
	// DefaultTTL is the default failover time (--cluster-failover-after).
	DefaultTTL = 30 * time.Second

	nameKey     = "name"
	drainPrefix = "drain."
)

// ErrClusterName is returned by Join when the NATS it reaches already belongs
// to a Lodestone cluster of another name.
var ErrClusterName = errors.New("membership: NATS belongs to another cluster")

// Node is one node's heartbeat, as stored in NodesBucket.
type Node struct {
	ID       string `json:"id"`
	APIURL   string `json:"api_url"`
	FreeDisk uint64 `json:"free_disk"` // bytes free where tasks' data goes
	Tasks    int    `json:"tasks"`
	MaxTasks int    `json:"max_tasks"` // 0: no limit
	// DownloadRate and UploadRate are the node's totals in bytes per
	// second, for status displays.
	DownloadRate int64     `json:"download_rate,omitempty"`
	UploadRate   int64     `json:"upload_rate,omitempty"`
	Draining     bool      `json:"draining"`
	Version      string    `json:"version"`
	At           time.Time `json:"at"` // the sender's clock; shown, never compared
}

// Status is what a node reports of itself at each heartbeat.
type Status struct {
	FreeDisk                 uint64
	Tasks                    int
	MaxTasks                 int
	DownloadRate, UploadRate int64
}

// Config configures Join.
type Config struct {
	// JS is the node's JetStream context (natsnode.Node.JS).
	JS jetstream.JetStream
	// NodeID is this node's id: a NATS subject token (no dots, spaces, * or >).
	NodeID string
	// ClusterName is this node's --cluster-name; required.
	ClusterName string
	// APIURL and Version are copied into every heartbeat.
	APIURL, Version string
	// TTL is the failover time: a node silent this long is gone. Zero means
	// DefaultTTL. The bucket's TTL is set by the first node that creates
	// it; later nodes use that one (and log when theirs differs).
	TTL time.Duration
	// Replicas of the two buckets; zero means 1. Use 3 in a NATS cluster.
	Replicas int
	// Status is called before every heartbeat; nil reports zeros, which
	// placement treats as "no free disk".
	Status func() Status
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.JS == nil {
		return errors.New("membership: JetStream is required")
	}
	if c.NodeID == "" || strings.ContainsAny(c.NodeID, " .*>") {
		return fmt.Errorf("membership: node id %q must be a non-empty subject token", c.NodeID)
	}
	if c.ClusterName == "" {
		return errors.New("membership: a cluster name is required")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < 3*time.Second/2 {
		return fmt.Errorf("membership: ttl %v is below the server's 1 s marker minimum plus margin", c.TTL)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Status == nil {
		c.Status = func() Status { return Status{} }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Membership is a node's seat in the cluster: it sends the node's heartbeats
// and keeps the live list. Close stops both.
type Membership struct {
	cfg     Config
	log     *slog.Logger
	nodes   jetstream.KeyValue
	cluster jetstream.KeyValue
	ttl     time.Duration // the bucket's, which may differ from cfg.TTL
	markers bool          // the nodes bucket has limit markers (its status says)
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	beatMu  sync.Mutex // serialises puts of our heartbeat

	restart chan struct{} // beatLoop asks watchLoop to recreate its watchers

	// mu guards the fields below it, written by watchLoop and Beat.
	mu      sync.Mutex
	live    map[string]seen
	drained map[string]bool
	putRev  uint64    // revision of our last heartbeat put
	putAt   time.Time // when it was acknowledged
	seenRev uint64    // revision of our key the watcher last delivered
}

type seen struct {
	n  Node
	at time.Time // local time the watcher received it
}

// Join creates or binds the buckets, checks the cluster name, sends a first
// heartbeat and starts the heartbeat and watcher goroutines; it returns once
// the live list holds what the buckets held. On error nothing is left
// running. The caller must Close.
func Join(ctx context.Context, cfg Config) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Membership{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "membership", "node", cfg.NodeID),
		live:    map[string]seen{},
		drained: map[string]bool{},
		restart: make(chan struct{}, 1),
	}
	var err error
	m.cluster, err = bucket(ctx, cfg.JS, jetstream.KeyValueConfig{
		Bucket: ClusterBucket, History: 1, Replicas: cfg.Replicas,
		Description: "Lodestone cluster name and drain flags",
	})
	if err != nil {
		return nil, err
	}
	if err := untilDone(ctx, m.checkName); err != nil {
		return nil, err
	}
	nodesCfg := jetstream.KeyValueConfig{
		Bucket: NodesBucket, History: 1, Replicas: cfg.Replicas, TTL: cfg.TTL, LimitMarkerTTL: cfg.TTL,
		Description: "Lodestone node heartbeats",
	}
	m.nodes, err = bucket(ctx, cfg.JS, nodesCfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		m.log.Warn("the NATS server is older than 2.11 and has no limit markers; expiring silent nodes by the local clock alone",
			"server_version", cfg.JS.Conn().ConnectedServerVersion())
		nodesCfg.LimitMarkerTTL = 0
		m.nodes, err = bucket(ctx, cfg.JS, nodesCfg)
	}
	if err != nil {
		return nil, err
	}
	st, err := bucketStatus(ctx, m.nodes)
	if err != nil {
		return nil, err
	}
	m.ttl = st.TTL()
	m.markers = st.LimitMarkerTTL() > 0
	if m.ttl != cfg.TTL {
		m.log.Warn("the nodes bucket has another failover time; using it", "bucket_ttl", m.ttl, "ttl", cfg.TTL)
	}
	wctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	ready := make(chan struct{})
	m.wg.Add(2)
	go m.watchLoop(wctx, ready)
	go m.beatLoop(wctx)
	select {
	case <-ready:
	case <-ctx.Done():
		m.Close()
		return nil, ctx.Err()
	}
	if err := untilDone(ctx, m.Beat); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// bucketStatus reads a bucket's status. Right after nodes of a new cluster
// create the bucket at once, the stream may not be known yet where the
// request lands (404 stream not found, seen when three `lodestone serve`
// processes started together): it retries that until ctx ends.
func bucketStatus(ctx context.Context, kv jetstream.KeyValue) (jetstream.KeyValueStatus, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := kv.Status(actx)
		cancel()
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("membership: bucket status: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("membership: bucket status: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// untilDone runs f until it succeeds, returns a final error (a name
// mismatch), or ctx ends, each attempt bounded like bucket's. A bucket that
// was just created may have no stream leader yet: a write then gets no
// response for a while (seconds on NATS 2.9).
func untilDone(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		err := f(actx)
		cancel()
		if err == nil || errors.Is(err, ErrClusterName) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// bucket creates a bucket or binds the existing one. A fresh JetStream
// cluster may answer "temporarily unavailable" for a moment; it retries
// until ctx ends, except on a server too old for expiry markers.
func bucket(ctx context.Context, js jetstream.JetStream, c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	for {
		// Each attempt is bounded: a create racing other nodes' may
		// never be answered (see bus.streamAttempt).
		actx, cancel := context.WithTimeout(ctx, 4*time.Second)
		kv, err := js.CreateKeyValue(actx, c)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(actx, c.Bucket)
		}
		cancel()
		if err == nil {
			return kv, nil
		}
		if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
			// A server older than 2.11: no point in waiting.
			return nil, fmt.Errorf("membership: bucket %s: %w", c.Bucket, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("membership: bucket %s: %w", c.Bucket, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (m *Membership) checkName(ctx context.Context) error {
	_, err := m.cluster.Create(ctx, nameKey, []byte(m.cfg.ClusterName))
	if err == nil {
		m.log.Info("founded the cluster", "cluster", m.cfg.ClusterName)
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("membership: write cluster name: %w", err)
	}
	e, err := m.cluster.Get(ctx, nameKey)
	if err != nil {
		return fmt.Errorf("membership: read cluster name: %w", err)
	}
	if got := string(e.Value()); got != m.cfg.ClusterName {
		return fmt.Errorf("%w: it is %q, this node's is %q", ErrClusterName, got, m.cfg.ClusterName)
	}
	return nil
}

// Close stops the heartbeats and the watchers and waits for them. The node's
// key is left to expire, as after a crash; call Leave first to go at once.
// It is safe to call more than once.
func (m *Membership) Close() {
	m.cancel()
	m.wg.Wait()
}

// Leave deletes this node's heartbeat so the others see it gone at once,
// then closes m.
func (m *Membership) Leave(ctx context.Context) error {
	m.Close()
	if err := m.nodes.Delete(ctx, m.cfg.NodeID); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	return nil
}

// LastBeat is when this node's last heartbeat was stored (zero before the
// first). While the bucket takes no heartbeats (no leader for a moment),
// every node's entry ages out of every view in no useful order: a view
// is only worth acting on while this node's own beats are stored.
func (m *Membership) LastBeat() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.putAt
}

// TTL is the failover time in force: the nodes bucket's TTL.
func (m *Membership) TTL() time.Duration { return m.ttl }

// Markers says whether the server places expiry markers in the nodes bucket
// (NATS 2.11 and later). Without them Live still drops a node silent for a
// TTL, by the local clock, but watchers get no event when it goes.
func (m *Membership) Markers() bool { return m.markers }

// Beat sends a heartbeat now, with a fresh Status. Callers use it after a
// change placement should see soon (a task added, disk freed).
func (m *Membership) Beat(ctx context.Context) error {
	m.beatMu.Lock()
	defer m.beatMu.Unlock()
	st := m.cfg.Status()
	m.mu.Lock()
	draining := m.drained[m.cfg.NodeID]
	m.mu.Unlock()
	b, err := json.Marshal(Node{
		ID: m.cfg.NodeID, APIURL: m.cfg.APIURL, Version: m.cfg.Version,
		FreeDisk: st.FreeDisk, Tasks: st.Tasks, MaxTasks: st.MaxTasks,
		DownloadRate: st.DownloadRate, UploadRate: st.UploadRate,
		Draining: draining, At: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	rev, err := m.nodes.Put(ctx, m.cfg.NodeID, b)
	if err != nil {
		return fmt.Errorf("membership: heartbeat: %w", err)
	}
	m.mu.Lock()
	m.putRev, m.putAt = rev, time.Now()
	m.mu.Unlock()
	return nil
}

func (m *Membership) beatLoop(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Our previous beat went out up to a third of a TTL ago (sooner
		// if a caller called Beat); if our own watcher has not delivered
		// it after a sixth, the watcher is stuck (its consumer lost with a
		// server restart, say): have it recreated.
		m.mu.Lock()
		stuck := m.seenRev < m.putRev && time.Since(m.putAt) > m.ttl/6
		m.mu.Unlock()
		if stuck {
			select {
			case m.restart <- struct{}{}:
			default:
			}
		}
		bctx, cancel := context.WithTimeout(ctx, m.ttl/3)
		if err := m.Beat(bctx); err != nil && ctx.Err() == nil {
			m.log.Warn("heartbeat failed", "err", err)
		}
		cancel()
	}
}

// watchLoop watches both buckets until ctx ends and closes ready once both
// delivered their initial values the first time. When a watcher ends or
// beatLoop finds it stuck, it recreates both: the new ones deliver every
// key's latest value (delete markers included) over the same maps, and a
// node that died in the gap is dropped by Live's clock guard.
func (m *Membership) watchLoop(ctx context.Context, ready chan struct{}) {
	defer m.wg.Done()
	for {
		err := m.watchOnce(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("recreating the watchers", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var errStuck = errors.New("membership: watcher did not deliver our own heartbeat")

func (m *Membership) watchOnce(ctx context.Context, ready chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nw, err := m.nodes.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("membership: watch nodes: %w", err)
	}
	watchers := []jetstream.KeyWatcher{nw}
	defer func() { m.stopWatchers(watchers) }()
	cw, err := m.cluster.Watch(wctx, drainPrefix+">")
	if err != nil {
		return fmt.Errorf("membership: watch drain flags: %w", err)
	}
	watchers = append(watchers, cw)
	pending := 2 // watchers yet to deliver their initial values
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		var apply func(jetstream.KeyValueEntry)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.restart:
			return errStuck
		case e, ok = <-nw.Updates():
			apply = m.applyNode
		case e, ok = <-cw.Updates():
			apply = m.applyDrain
		}
		if !ok {
			return errors.New("membership: watcher closed")
		}
		if e != nil {
			apply(e)
			continue
		}
		// A nil entry ends a watcher's initial values.
		if pending--; pending == 0 {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
	}
}

// stopWatchers stops watchers in the background. Stopping one deletes its
// consumer with a request that waits up to 5 s for an answer; when the
// server that held the consumer is the one that died, none comes, and the
// watchers' recreation waited for it (10 s for the two, measured: the
// coordinator's live list went stale and failover came that much later).
// The server removes a consumer it still has once it is inactive.
func (m *Membership) stopWatchers(ws []jetstream.KeyWatcher) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for _, w := range ws {
			w.Stop()
		}
	}()
}

func (m *Membership) applyNode(e jetstream.KeyValueEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		if _, ok := m.live[e.Key()]; ok {
			m.log.Info("node gone", "peer", e.Key(), "op", e.Operation().String())
		}
		delete(m.live, e.Key())
		return
	}
	var n Node
	if err := json.Unmarshal(e.Value(), &n); err != nil || n.ID != e.Key() {
		m.log.Warn("ignoring a malformed heartbeat", "key", e.Key(), "err", err)
		return
	}
	if _, ok := m.live[n.ID]; !ok {
		m.log.Info("node live", "peer", n.ID)
	}
	if n.ID == m.cfg.NodeID {
		m.seenRev = max(m.seenRev, e.Revision())
	}
	m.live[n.ID] = seen{n: n, at: time.Now()}
}

func (m *Membership) applyDrain(e jetstream.KeyValueEntry) {
	id := strings.TrimPrefix(e.Key(), drainPrefix)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e.Operation() == jetstream.KeyValuePut {
		m.drained[id] = true
	} else {
		delete(m.drained, id)
	}
}

// Live returns the live nodes sorted by id, with drain flags applied.
func (m *Membership) Live() []Node {
	now := time.Now()
	m.mu.Lock()
	out := make([]Node, 0, len(m.live))
	for id, s := range m.live {
		if now.Sub(s.at) > m.ttl {
			// The expiry marker is late or was missed while the
			// watchers were recreated; the key is dead anyway.
			delete(m.live, id)
			continue
		}
		n := s.n
		n.Draining = n.Draining || m.drained[n.ID]
		out = append(out, n)
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Place returns the node a task with this info-hash should run on, among the
// live nodes (see the package function Place), or ErrNoNode.
func (m *Membership) Place(infohash string) (string, error) {
	return Place(infohash, m.Live())
}

// Drain sets (on) or clears node's drain flag: placement stops (or resumes)
// choosing it on every member as soon as their watchers see the flag. The
// flag outlives the node's restarts until cleared.
func (m *Membership) Drain(ctx context.Context, node string, on bool) error {
	if node == "" || strings.ContainsAny(node, " .*>") {
		return fmt.Errorf("membership: bad node id %q", node)
	}
	var err error
	if on {
		_, err = m.cluster.Put(ctx, drainPrefix+node, []byte("1"))
	} else {
		err = m.cluster.Delete(ctx, drainPrefix+node)
	}
	if err != nil {
		return fmt.Errorf("membership: drain %s: %w", node, err)
	}
	return nil
}
