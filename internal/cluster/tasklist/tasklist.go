// Package tasklist is the cluster's task list: the desired state of every
// task (what exists, on which node, what was asked of it), kept in JetStream
// so that it survives any node.
//
// Design decisions:
//   - One KV entry per task in Bucket, key = the task id (40-hex info-hash),
//     value = Entry as JSON, history 1. Writes are atomic per key: Create
//     fails when the key exists ("acknowledged means durable, and once"),
//     Update and Delete compare the KV revision (CAS), so two nodes that
//     change the same entry at once both succeed in some order, or one is
//     told, and nothing is lost.
//   - A .torrent's bytes go to the object store ObjectBucket, not into the
//     entry, so entries stay a few hundred bytes and the watchers of every
//     node do not carry megabytes. The object's name is the task id plus a
//     random suffix, recorded in the entry (Entry.Object): a Delete of the
//     task removes exactly the object its entry named, so a remove racing a
//     re-add of the same info-hash cannot delete the new entry's torrent.
//   - Every node keeps the whole list in a map fed by ONE KV watcher, so an
//     owner lookup is a map read. A watcher can die silently with its
//     consumer when its NATS server restarts; the list recreates it on every
//     reconnect of its connection, and every CheckInterval compares what
//     the cache has applied with the stream's last sequence (one stream info
//     request) and recreates it when the cache is behind what the stream
//     held at the previous check. A recreated watcher resumes from the last
//     revision the cache applied, so a recovery costs the changes missed,
//     not the whole list, and each of them reaches OnChange in order.
//   - OnChange is called from the watcher goroutine only, per key in
//     revision order; a revision the cache already has (or has passed) is
//     never delivered twice. With history 1 a revision overwritten before
//     a watcher read it is gone from the stream, so a key changed quickly
//     may skip intermediate revisions; its latest one always arrives.
//     Reconcilers act on the state (cur), not on the sequence of steps.
//   - Reads of one entry (Load) go to the bucket's stream leader, never
//     to a replica that may lag behind an acknowledged write: direct gets
//     are turned off on the bucket.
//   - Removed tasks leave a KV delete marker (about 170 bytes each in the
//     store) so that every watcher, including one resuming after an
//     outage, learns of the removal from the stream.
package tasklist

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/api"
)

const (
	// Bucket is the KV bucket of the task list.
	Bucket = "lodestone_tasks"
	// ObjectBucket is the object store of the tasks' .torrent files.
	ObjectBucket = "lodestone_torrents"
	// DefaultCheckInterval is how often a list checks that its watcher
	// keeps up with the stream.
	DefaultCheckInterval = 10 * time.Second
)

// Move reasons (Entry.MoveReason).
const (
	MoveNodeDown = "node_down"
	MoveDrained  = "drained"
)

var (
	// ErrNotFound: no entry (or no stored torrent) for this task id.
	ErrNotFound = errors.New("tasklist: task not found")
	// ErrExists is returned by Create when the task id has an entry.
	ErrExists = errors.New("tasklist: task exists")
	// ErrConflict is returned by Delete when the entry's revision is no
	// longer the one given.
	ErrConflict = errors.New("tasklist: revision conflict")
	// ErrSkip, returned by an Update function, leaves the entry unchanged;
	// Update then returns it with the entry as loaded.
	ErrSkip = errors.New("tasklist: update skipped")
)

// Entry is one task's desired state, as stored under its id.
//
// Entries returned by the list's cache (Get, All, OnNode) share their
// slices and pointers (Add.Labels, Add.Files, the seed limits) with the
// cache: treat them as read-only. Update's function gets a private copy.
type Entry struct {
	// TaskID is the task's v1 info-hash, 40 lowercase hex digits: the key.
	TaskID string `json:"task_id"`
	// Node is the node the task is placed on.
	Node string `json:"node"`
	// Generation is 1 at add and grows by one at each re-placement.
	Generation uint64 `json:"generation"`
	// Add is what task.add was given, with type "magnet" or "torrent" (a
	// URL is fetched before). For a torrent, Data is "" here: the bytes are
	// in the object store (see Object and List.Torrent).
	Add api.TaskAddParams `json:"add"`
	// Object is the name of the .torrent in ObjectBucket; "" when none.
	// Create sets it; nothing else may change it.
	Object string `json:"object,omitempty"`
	// Paused is the desired paused state.
	Paused bool `json:"paused,omitempty"`
	// Removing: task.remove was accepted and is not yet carried out.
	Removing bool `json:"removing,omitempty"`
	// DeleteData goes with Removing: delete the data too.
	DeleteData bool `json:"delete_data,omitempty"`
	// AddedAt is when the task was added (UTC).
	AddedAt time.Time `json:"added_at"`
	// MovedFrom and MoveReason (MoveNodeDown, MoveDrained) tell where the
	// last re-placement took the task from, and why.
	MovedFrom  string `json:"moved_from,omitempty"`
	MoveReason string `json:"move_reason,omitempty"`
	// Revision is the KV revision the entry was read at, for CAS; it is
	// not stored.
	Revision uint64 `json:"-"`
}

// TorrentStored reports whether the task's .torrent is in the object store.
func (e Entry) TorrentStored() bool { return e.Object != "" }

// Config configures Open.
type Config struct {
	// JS is the node's JetStream context (natsnode.Node.JS).
	JS jetstream.JetStream
	// Replicas of the bucket and the object store; zero means 1. Use 3 in
	// a NATS cluster of three or more servers.
	Replicas int
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is told of every change the watcher applies to
	// the cache: old nil means created, cur nil means deleted. It is
	// called from the watcher goroutine, per key in revision order, never
	// concurrently, and must not block for long (the cache waits for it).
	// The entries are the cache's: read them, do not modify them.
	// It sees the initial entries too, as creations, before Open returns.
	OnChange func(old, cur *Entry)
	// CheckInterval is how often the watcher's progress is checked
	// against the stream; zero means DefaultCheckInterval.
	CheckInterval time.Duration
}

// List is a node's handle on the task list, with its watcher-fed cache.
// Close stops the watcher.
type List struct {
	cfg    Config
	log    *slog.Logger
	kv     jetstream.KeyValue
	obs    jetstream.ObjectStore
	cancel context.CancelFunc
	done   chan struct{}
	// stopping counts watchers being stopped in the background (run
	// waits for them before closing done).
	stopping sync.WaitGroup
	// rewatch asks the watcher to start over from its revision (Rewatch).
	rewatch chan struct{}

	// mu guards the cache below; the watcher goroutine is its only writer.
	mu      sync.Mutex
	cache   map[string]*Entry
	perNode map[string]map[string]struct{}
	rev     uint64        // every change up to this revision is applied
	revC    chan struct{} // closed and replaced when rev grows (Wait)
	// reloading: the bucket's revisions started over; the full load under
	// way replaces entries whatever their revisions.
	reloading bool
}

// Open creates or binds the bucket (history 1) and the object store, starts
// the watcher and returns once the cache holds every existing entry. On
// error nothing is left running. The caller must Close.
func Open(ctx context.Context, cfg Config) (*List, error) {
	if cfg.JS == nil {
		return nil, errors.New("tasklist: JetStream is required")
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > 5 {
		return nil, fmt.Errorf("tasklist: replicas %d out of 1..5", cfg.Replicas)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCheckInterval
	}
	l := &List{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "tasklist"),
		cache:   map[string]*Entry{},
		perNode: map[string]map[string]struct{}{},
		revC:    make(chan struct{}),
		done:    make(chan struct{}),
		rewatch: make(chan struct{}, 1),
	}
	var err error
	l.kv, err = keyValue(ctx, cfg.JS, jetstream.KeyValueConfig{
		Bucket: Bucket, History: 1, Replicas: cfg.Replicas,
		Description: "Lodestone task list: desired state per task",
	})
	if err != nil {
		return nil, err
	}
	l.obs, err = objectStore(ctx, cfg.JS, jetstream.ObjectStoreConfig{
		Bucket: ObjectBucket, Replicas: cfg.Replicas,
		Description: "Lodestone tasks' .torrent files",
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	ready := make(chan struct{})
	go l.run(wctx, ready)
	select {
	case <-ready:
		return l, nil
	case <-ctx.Done():
		l.Close()
		return nil, fmt.Errorf("tasklist: initial load: %w", ctx.Err())
	}
}

// Close stops the watcher and waits for it. Call it before closing the
// NATS connection. It is safe to call more than once.
func (l *List) Close() {
	l.cancel()
	<-l.done
}

// keyValue binds the bucket or creates it. A fresh JetStream cluster may
// answer "temporarily unavailable" for a moment: it retries until ctx ends.
func keyValue(ctx context.Context, js jetstream.JetStream, c jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return retry(ctx, "bucket "+c.Bucket, func() (jetstream.KeyValue, error) {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		kv, err := js.KeyValue(actx, c.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(actx, c)
		}
		if err != nil {
			return nil, err
		}
		return leaderReads(actx, js, kv, c.Bucket)
	})
}

// leaderReads turns direct gets off for the bucket and binds it again.
// With them (the client's default for a new bucket) any replica answers
// a Get, and a follower that has not yet applied an acknowledged create
// answers "not found": a task's node was told, 1.4 s after task.add
// stored the task, that it did not exist (TestClusterNATSLeaderRestart).
// Load is the server's word (for CAS, for dropping tasks): it must be
// the stream leader's.
func leaderReads(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, bucket string) (jetstream.KeyValue, error) {
	s, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return nil, err
	}
	sc := s.CachedInfo().Config
	if !sc.AllowDirect {
		return kv, nil
	}
	sc.AllowDirect = false
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		return nil, err
	}
	return js.KeyValue(ctx, bucket)
}

func objectStore(ctx context.Context, js jetstream.JetStream, c jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	return retry(ctx, "object store "+c.Bucket, func() (jetstream.ObjectStore, error) {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		o, err := js.ObjectStore(actx, c.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			o, err = js.CreateObjectStore(actx, c)
		}
		return o, err
	})
}

// attemptTimeout bounds one attempt to bind or create a bucket: a create
// racing other nodes' may never be answered (see bus.streamAttempt).
const attemptTimeout = 4 * time.Second

func retry[T any](ctx context.Context, what string, f func() (T, error)) (T, error) {
	for {
		v, err := f()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("tasklist: %s: %w", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// validID reports whether id is a v1 info-hash in lowercase hex.
func validID(id string) error {
	if len(id) != 40 {
		return fmt.Errorf("tasklist: task id %q is not 40 hex digits", id)
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("tasklist: task id %q is not 40 lowercase hex digits", id)
		}
	}
	return nil
}

func validNode(n string) error {
	if n == "" || strings.ContainsAny(n, " .*>") {
		return fmt.Errorf("tasklist: node id %q must be a non-empty subject token", n)
	}
	return nil
}

// Create stores a new entry with an atomic KV create. When torrent is given
// it is stored in the object store first (e.Object names it, e.Add.Data is
// cleared). Generation 0 becomes 1 and a zero AddedAt becomes now. When the
// task id has an entry already, Create returns that entry with ErrExists
// (and keeps no copy of torrent). The returned entry carries its revision.
func (l *List) Create(ctx context.Context, e Entry, torrent []byte) (Entry, error) {
	if err := validID(e.TaskID); err != nil {
		return Entry{}, err
	}
	if err := validNode(e.Node); err != nil {
		return Entry{}, err
	}
	if e.Generation == 0 {
		e.Generation = 1
	}
	if e.AddedAt.IsZero() {
		e.AddedAt = time.Now().UTC()
	}
	e.Object = ""
	if (torrent != nil) != (e.Add.Type == api.TaskTypeTorrent) {
		return Entry{}, fmt.Errorf("tasklist: task %s of type %q with %d torrent bytes: a torrent's bytes go with type torrent only", e.TaskID, e.Add.Type, len(torrent))
	}
	if torrent != nil {
		var sfx [6]byte
		if _, err := rand.Read(sfx[:]); err != nil {
			return Entry{}, err
		}
		e.Object = e.TaskID + "." + hex.EncodeToString(sfx[:])
		e.Add.Data = ""
		if _, err := l.obs.Put(ctx, jetstream.ObjectMeta{Name: e.Object}, bytes.NewReader(torrent)); err != nil {
			return Entry{}, fmt.Errorf("tasklist: store torrent of %s: %w", e.TaskID, err)
		}
	}
	b, err := encode(&e)
	if err != nil {
		return Entry{}, err
	}
	rev, err := l.kv.Create(ctx, e.TaskID, b)
	if err == nil {
		e.Revision = rev
		return e, nil
	}
	l.dropObject(e.Object)
	if !casConflict(err) {
		return Entry{}, fmt.Errorf("tasklist: create %s: %w", e.TaskID, err)
	}
	cur, lerr := l.Load(ctx, e.TaskID)
	if lerr != nil {
		// Deleted again in between: say it existed all the same.
		return Entry{}, fmt.Errorf("%w: %s (%w)", ErrExists, e.TaskID, lerr)
	}
	return cur, fmt.Errorf("%w: %s", ErrExists, e.TaskID)
}

// casConflict reports whether a KV write failed because the key's revision
// was not the one expected: the key exists (Create) or moved on (Update,
// Delete). Create on a key whose last revision is a delete marker returns
// the server's error unmapped, with code 10071, or 10164 on replicated
// streams; the client's sentinels cover the other cases.
func casConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Load reads the entry from the server (fresh, not the cache); ErrNotFound
// when there is none.
func (l *List) Load(ctx context.Context, id string) (Entry, error) {
	kve, err := l.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("tasklist: load %s: %w", id, err)
	}
	e, err := decode(kve)
	if err != nil {
		return Entry{}, err
	}
	return *e, nil
}

// encode is json.Marshal without HTML escaping: a magnet's every "&" would
// take six bytes instead of one.
func encode(e *Entry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("tasklist: encode %s: %w", e.TaskID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func decode(kve jetstream.KeyValueEntry) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, fmt.Errorf("tasklist: entry %s at revision %d: %w", kve.Key(), kve.Revision(), err)
	}
	if e.TaskID != kve.Key() {
		return nil, fmt.Errorf("tasklist: entry %s at revision %d names task %q", kve.Key(), kve.Revision(), e.TaskID)
	}
	e.Revision = kve.Revision()
	return &e, nil
}

// Update changes an entry with a CAS loop: it loads the entry fresh, applies
// fn to a copy and writes it back at the revision it loaded; when another
// writer got there first it starts again, so fn may run more than once and
// must only depend on the entry it is given. fn may not change TaskID or
// Object. When fn returns an error (ErrSkip to leave the entry as it is),
// Update writes nothing and returns the entry as loaded with that error.
// ErrNotFound when there is no entry.
func (l *List) Update(ctx context.Context, id string, fn func(*Entry) error) (Entry, error) {
	for {
		cur, err := l.Load(ctx, id)
		if err != nil {
			return Entry{}, err
		}
		next := cur
		if err := fn(&next); err != nil {
			return cur, err
		}
		if next.TaskID != cur.TaskID || next.Object != cur.Object {
			return cur, fmt.Errorf("tasklist: update of %s may not change its id or object", id)
		}
		if err := validNode(next.Node); err != nil {
			return cur, err
		}
		b, err := encode(&next)
		if err != nil {
			return cur, err
		}
		rev, err := l.kv.Update(ctx, id, b, cur.Revision)
		if err == nil {
			next.Revision = rev
			return next, nil
		}
		if !casConflict(err) {
			return cur, fmt.Errorf("tasklist: update %s: %w", id, err)
		}
		// Someone else wrote it since our load: load and apply again.
		if ctx.Err() != nil {
			return cur, fmt.Errorf("tasklist: update %s: %w", id, ctx.Err())
		}
	}
}

// Delete removes the entry if its revision is rev (ErrConflict otherwise;
// rev 0 removes whatever revision is current), then the .torrent it named.
// ErrNotFound when there is no entry.
func (l *List) Delete(ctx context.Context, id string, rev uint64) error {
	for {
		cur, err := l.Load(ctx, id)
		if err != nil {
			return err
		}
		if rev != 0 && cur.Revision != rev {
			return fmt.Errorf("%w: %s is at revision %d, not %d", ErrConflict, id, cur.Revision, rev)
		}
		err = l.kv.Delete(ctx, id, jetstream.LastRevision(cur.Revision))
		if err == nil {
			if cur.Object != "" {
				if err := l.deleteObject(ctx, cur.Object); err != nil {
					return fmt.Errorf("tasklist: %s deleted, its torrent not: %w", id, err)
				}
			}
			return nil
		}
		if !casConflict(err) {
			return fmt.Errorf("tasklist: delete %s: %w", id, err)
		}
		if rev != 0 {
			return fmt.Errorf("%w: %s changed while being deleted", ErrConflict, id)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("tasklist: delete %s: %w", id, ctx.Err())
		}
	}
}

// deleteObject removes an object and then the delete marker the object
// store leaves behind: object names are unique per add, so markers would
// otherwise pile up, one per removed torrent.
func (l *List) deleteObject(ctx context.Context, name string) error {
	err := l.obs.Delete(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s, err := l.cfg.JS.Stream(ctx, "OBJ_"+ObjectBucket)
	if err != nil {
		return err
	}
	// The meta subject's layout is the object store's (ADR-20).
	return s.Purge(ctx, jetstream.WithPurgeSubject("$O."+ObjectBucket+".M."+base64URL(name)))
}

// dropObject removes an object Create stored for an entry it did not
// write; a failure leaves an orphan, which is logged.
func (l *List) dropObject(name string) {
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.deleteObject(ctx, name); err != nil {
		l.log.Warn("could not remove an unused torrent object", "object", name, "err", err)
	}
}

// Torrent returns the .torrent bytes stored for a task; ErrNotFound when it
// has none.
func (l *List) Torrent(ctx context.Context, id string) ([]byte, error) {
	name := ""
	if e, ok := l.Get(id); ok {
		name = e.Object
	}
	for fresh := false; ; fresh = true {
		if name != "" {
			b, err := l.obs.GetBytes(ctx, name)
			if err == nil {
				return b, nil
			}
			if !errors.Is(err, jetstream.ErrObjectNotFound) {
				return nil, fmt.Errorf("tasklist: torrent of %s: %w", id, err)
			}
		}
		if fresh {
			return nil, fmt.Errorf("%w: no torrent stored for %s", ErrNotFound, id)
		}
		// The cache may be behind (a re-add with a new object): ask the
		// server.
		e, err := l.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		name = e.Object
	}
}

// Get returns the cached entry of a task.
func (l *List) Get(id string) (Entry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.cache[id]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// All returns every cached entry, sorted by AddedAt then id.
func (l *List) All() []Entry {
	l.mu.Lock()
	ps := make([]*Entry, 0, len(l.cache))
	for _, e := range l.cache {
		ps = append(ps, e)
	}
	l.mu.Unlock()
	// Cached entries are never modified, only replaced, so they can be
	// read without the lock.
	return sorted(ps)
}

// OnNode returns the cached entries placed on node, sorted as All.
func (l *List) OnNode(node string) []Entry {
	l.mu.Lock()
	ids := l.perNode[node]
	ps := make([]*Entry, 0, len(ids))
	for id := range ids {
		ps = append(ps, l.cache[id])
	}
	l.mu.Unlock()
	return sorted(ps)
}

// sorted sorts pointers (an Entry is ~300 bytes to swap) and copies.
func sorted(ps []*Entry) []Entry {
	slices.SortFunc(ps, func(a, b *Entry) int {
		if c := a.AddedAt.Compare(b.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(a.TaskID, b.TaskID)
	})
	out := make([]Entry, len(ps))
	for i, p := range ps {
		out[i] = *p
	}
	return out
}

// Counts returns the number of cached entries per node.
func (l *List) Counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.perNode))
	for n, ids := range l.perNode {
		out[n] = len(ids)
	}
	return out
}

// Len returns the number of cached entries.
func (l *List) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cache)
}

// Rewatch has the watcher recreated, resuming after the revision the
// cache has (it misses nothing and repeats nothing). Call it when a NATS
// server of the cluster went away: the watcher's consumer may have been
// on it, and the client notices that only after missing its heartbeats
// (about 10 s), since its own connection stays up. It does not block.
func (l *List) Rewatch() {
	select {
	case l.rewatch <- struct{}{}:
	default:
	}
}

// Wait returns once the cache has applied every change up to revision rev
// (the Revision of an entry this node just wrote, say) and OnChange has
// returned for each, or ctx's error.
func (l *List) Wait(ctx context.Context, rev uint64) error {
	for {
		l.mu.Lock()
		at, c := l.rev, l.revC
		l.mu.Unlock()
		if at >= rev {
			return nil
		}
		select {
		case <-c:
		case <-ctx.Done():
			return fmt.Errorf("tasklist: waiting for revision %d (at %d): %w", rev, at, ctx.Err())
		}
	}
}
