// Package keyring makes the API token and the API keys the same on every
// node of a cluster.
//
// Design decisions:
//   - The token lives in membership's ClusterBucket under TokenKey, in
//     clear: a node that adopts the cluster's token must be able to answer
//     the CLI's and web UI's logins with it, which a hash would not allow.
//     It is as secret as NATS's own credentials: NATS is authenticated, and
//     the JetStream data on the NATS servers' disks holds it.
//   - Keys live in KeysBucket, one entry per key id whose value is the
//     store.KeyRecord JSON (SHA-256 of the secret, scope, name, creation
//     time; never the secret, never the last use, which stays per node).
//     Every node mirrors the bucket into its local apikeys, which persists
//     each record in the node's store: authentication is a local map read,
//     and keys go on working while NATS is away.
//   - Create and Revoke write the bucket first (acknowledged means durable
//     on the bucket's replicas), then apply to the local keys at once, so
//     the node that answered is up to date before its client is; the
//     others follow through their watchers, within the watcher's delivery
//     time (milliseconds).
//   - A key id is never reused, so a delete is final: ids deleted in the
//     bucket are remembered (tombstones) and a Put of one is never applied
//     again. This keeps a Put delivered late (a recreated watcher's initial
//     values racing a Revoke on this node) from bringing a revoked key back.
//   - When the watcher (re)starts, its initial values are the bucket's whole
//     state, delete markers included. Local keys the bucket has never seen
//     are uploaded (keys made before the node joined become cluster keys)
//     with an update that expects no entry at all, so a key revoked in the
//     cluster while this node was away (its delete marker is an entry) is
//     forgotten here, never uploaded again.
//   - A watcher is an ordered consumer that can be lost with a NATS server
//     restart and then delivers nothing, silently. Every CheckInterval the
//     loop reads the bucket's last revision; when the revision read at the
//     previous check has still not been delivered and nothing arrived since,
//     the watcher is recreated, and its initial values catch up on whatever
//     was missed.
package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apikeys"
	"github.com/lodestone-bt/lodestone/internal/store"
)

const (
	// KeysBucket holds the cluster's API keys: key = key id, value = the
	// store.KeyRecord JSON without last_used_at.
	KeysBucket = "lodestone_keys"
	// DefaultCheckInterval is how often the watcher's progress is checked
	// against the bucket.
	DefaultCheckInterval = 2 * time.Second
	// opTimeout bounds one request to JetStream made by the loop.
	opTimeout = 5 * time.Second
)

// Config configures Start.
type Config struct {
	// JS is the node's JetStream context (natsnode.Node.JS).
	JS jetstream.JetStream
	// Replicas of KeysBucket if this node creates it; zero means 1. Use 3
	// in a NATS cluster.
	Replicas int
	// Keys are this node's keys, which Start keeps equal to the cluster's.
	Keys *apikeys.Keys
	// CheckInterval is how often the watcher's progress is checked (see the
	// package doc); zero means DefaultCheckInterval.
	CheckInterval time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.JS == nil {
		return errors.New("keyring: JetStream is required")
	}
	if c.Keys == nil {
		return errors.New("keyring: the node's keys are required")
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Ring keeps a node's API keys equal to the cluster's and answers
// key.create, key.list and key.revoke for the cluster. Close stops it.
type Ring struct {
	cfg    Config
	log    *slog.Logger
	kv     jetstream.KeyValue
	keys   *apikeys.Keys
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu serialises what is applied to keys (by the watcher, Create and
	// Revoke) and guards revoked.
	mu      sync.Mutex
	revoked map[string]bool // tombstones: ids deleted in the bucket
}

// Start creates or binds KeysBucket and starts the watcher that applies
// every record to cfg.Keys. It returns once the bucket's state is applied
// here and this node's keys that the bucket never had were offered to it
// (an upload that fails is retried by the watcher), or with ctx's error; on
// error nothing is left running. The caller must Close.
func Start(ctx context.Context, cfg Config) (*Ring, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Ring{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "keyring"),
		keys:    cfg.Keys,
		revoked: map[string]bool{},
	}
	var err error
	r.kv, err = bucket(ctx, cfg.JS, jetstream.KeyValueConfig{
		Bucket: KeysBucket, History: 1, Replicas: cfg.Replicas,
		Description: "Lodestone API keys (SHA-256 hashes)",
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	r.wg.Add(1)
	go r.watchLoop(wctx, ready)
	select {
	case <-ready:
		return r, nil
	case <-ctx.Done():
		r.Close()
		return nil, fmt.Errorf("keyring: waiting for the keys: %w", ctx.Err())
	}
}

// Close stops the watcher and waits for it. It is safe to call more than
// once.
func (r *Ring) Close() {
	r.cancel()
	r.wg.Wait()
}

// unavailable is the answer when the bucket could not be read or written:
// this node cannot reach the cluster now, another node may. The cause is
// in the message (the wire carries only the *api.Error).
func unavailable(what string, err error) error {
	return &api.Error{Code: api.CodeClusterUnavailable,
		Message: fmt.Sprintf("the cluster's keys cannot be %s now: %v", what, err)}
}

// Create makes a key (apikeys.Keys.Mint), stores its record in the bucket,
// then applies it here, and only then returns the secret. It answers
// key.create in cluster mode; a bucket that cannot be written is 216.
func (r *Ring) Create(ctx context.Context, p api.KeyCreateParams) (api.KeyCreateResult, error) {
	rec, res, err := r.keys.Mint(p)
	if err != nil {
		return api.KeyCreateResult{}, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return api.KeyCreateResult{}, err
	}
	// Update at revision 0 expects no entry at all; a new random id never
	// has one.
	if _, err := r.kv.Update(ctx, rec.ID, b, 0); err != nil {
		return api.KeyCreateResult{}, unavailable("written", err)
	}
	if err := r.applyPut(rec); err != nil {
		// The key is the cluster's but does not work here; nobody has its
		// secret yet, so take it back rather than hand out a key that
		// fails on the node that made it.
		if derr := r.kv.Delete(ctx, rec.ID); derr != nil {
			r.log.Warn("could not take back a key that failed to apply", "key_id", rec.ID, "err", derr)
		}
		return api.KeyCreateResult{}, err
	}
	r.log.Info("api key created", "key_id", rec.ID, "name", rec.Name, "scope", rec.Scope)
	return res, nil
}

// List answers key.list in cluster mode: this node's mirror of the
// cluster's keys, with this node's last uses. It needs no NATS.
func (r *Ring) List(ctx context.Context, p struct{}) (api.KeyListResult, error) {
	return r.keys.List(ctx, p)
}

// Revoke deletes key p.KeyID from the bucket, then forgets it here (closing
// its revocation channel, which ends the connections it opened); every
// other node does the same when its watcher delivers the delete. It answers
// key.revoke in cluster mode: an id that neither the bucket nor this node
// has is 213, a bucket that cannot be reached is 216.
func (r *Ring) Revoke(ctx context.Context, p api.KeyRevokeParams) (api.Empty, error) {
	_, err := r.kv.Get(ctx, p.KeyID)
	known := err == nil
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrInvalidKey):
		// Not in the bucket; this node may still have it (an upload not
		// done yet): a delete marker then keeps it from being uploaded.
		known = r.hasLocal(p.KeyID) && !errors.Is(err, jetstream.ErrInvalidKey)
	default:
		return api.Empty{}, unavailable("read", err)
	}
	if !known {
		return api.Empty{}, &api.Error{Code: api.CodeNoSuchKey, Message: fmt.Sprintf("no key with key_id %q", p.KeyID)}
	}
	if err := r.kv.Delete(ctx, p.KeyID); err != nil {
		return api.Empty{}, unavailable("written", err)
	}
	if err := r.applyDelete(p.KeyID); err != nil {
		// Revoked in memory and in the cluster; only this node's store
		// kept it, and the bucket's delete marker removes it at the next
		// start.
		r.log.Warn("revoked key still in the local store", "key_id", p.KeyID, "err", err)
	}
	r.log.Info("api key revoked", "key_id", p.KeyID)
	return api.Empty{}, nil
}

func (r *Ring) hasLocal(id string) bool {
	for _, rec := range r.keys.Records() {
		if rec.ID == id {
			return true
		}
	}
	return false
}

// applyPut applies rec to the local keys unless its id was deleted.
func (r *Ring) applyPut(rec store.KeyRecord) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked[rec.ID] {
		return nil
	}
	return r.keys.Apply(rec)
}

// applyDelete remembers id as deleted and forgets it locally.
func (r *Ring) applyDelete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[id] = true
	return r.keys.Forget(id)
}

// watchLoop runs watchers until ctx ends, recreating one that ended or got
// stuck after a pause that doubles with each quick failure in a row (up to
// the check interval), so that an outage of NATS costs a request and a log
// line per interval, not a busy loop. It closes ready once the first watcher delivered and
// reconciled the bucket's state.
func (r *Ring) watchLoop(ctx context.Context, ready chan struct{}) {
	defer r.wg.Done()
	const first = 200 * time.Millisecond
	pause := first
	for {
		start := time.Now()
		err := r.watchOnce(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > r.cfg.CheckInterval {
			// It ran a while: a new failure, not the same outage.
			pause = first
		}
		if pause == first {
			r.log.Warn("recreating the keys watcher", "err", err)
		} else {
			// While NATS stays away, once every check interval.
			r.log.Debug("recreating the keys watcher", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, r.cfg.CheckInterval)
	}
}

var errStuck = errors.New("keyring: the watcher has not delivered the bucket's last revision")

// watchOnce runs one watcher: it applies the initial values, reconciles
// (uploads), then applies updates until ctx ends, the watcher closes or it
// is found stuck.
func (r *Ring) watchOnce(ctx context.Context, ready chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := r.kv.WatchAll(wctx)
	if err != nil {
		return fmt.Errorf("keyring: watch keys: %w", err)
	}
	defer w.Stop()
	tick := time.NewTicker(r.cfg.CheckInterval)
	defer tick.Stop()
	initial := map[string]bool{} // ids with an entry in the initial values; nil once they are done
	// delivered is the highest revision delivered; mark is the bucket's
	// last revision read at the previous check, and markDelivered what had
	// been delivered then.
	var delivered, mark, markDelivered uint64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if mark > delivered && delivered == markDelivered {
				return fmt.Errorf("%w: delivered %d, the bucket was at %d a check ago", errStuck, delivered, mark)
			}
			mark, markDelivered = r.lastRevision(ctx), delivered
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("keyring: watcher closed")
			}
			if e == nil {
				if initial == nil {
					continue
				}
				err := r.upload(ctx, initial)
				initial = nil
				select {
				case <-ready:
				default:
					close(ready)
				}
				if err != nil {
					return err
				}
				continue
			}
			delivered = max(delivered, e.Revision())
			if initial != nil {
				initial[e.Key()] = true
			}
			if err := r.apply(e); err != nil {
				// A local store failure: a new watcher tries again.
				return err
			}
		}
	}
}

// lastRevision is the bucket's last revision, 0 when it cannot be read
// (the check is skipped then).
func (r *Ring) lastRevision(ctx context.Context) uint64 {
	ctx, cancel := context.WithTimeout(ctx, min(opTimeout, r.cfg.CheckInterval))
	defer cancel()
	st, err := r.kv.Status(ctx)
	if err != nil {
		return 0
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0
	}
	return bs.StreamInfo().State.LastSeq
}

// apply applies one entry of the bucket to the local keys.
func (r *Ring) apply(e jetstream.KeyValueEntry) error {
	if e.Operation() != jetstream.KeyValuePut {
		if err := r.applyDelete(e.Key()); err != nil {
			return fmt.Errorf("keyring: forget key %s: %w", e.Key(), err)
		}
		return nil
	}
	var rec store.KeyRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.ID != e.Key() {
		r.log.Warn("ignoring a malformed key record", "key", e.Key(), "err", err)
		return nil
	}
	if err := r.applyPut(rec); err != nil {
		return fmt.Errorf("keyring: apply key %s: %w", e.Key(), err)
	}
	return nil
}

// upload offers the bucket every local key it has no entry for (seen).
// An update at revision 0 fails if the key has any entry, a delete marker
// included, so a key revoked meanwhile is not brought back; that failure is
// not an error, as the watcher delivers what the bucket holds.
func (r *Ring) upload(ctx context.Context, seen map[string]bool) error {
	var errs []error
	for _, rec := range r.keys.Records() {
		if seen[rec.ID] {
			continue
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		uctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err = r.kv.Update(uctx, rec.ID, b, 0)
		cancel()
		switch {
		case err == nil:
			r.log.Info("api key made before joining uploaded to the cluster", "key_id", rec.ID, "name", rec.Name)
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
		default:
			errs = append(errs, fmt.Errorf("keyring: upload key %s: %w", rec.ID, err))
		}
	}
	return errors.Join(errs...)
}
