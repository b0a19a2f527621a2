package apikeys

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// This file is what a cluster node (internal/cluster/keyring) needs to keep
// this node's keys equal to the cluster's: records that arrive from the
// cluster are applied here and persisted, so they go on working while NATS
// is away, and a revocation from elsewhere ends this node's connections of
// that key as a local one does.

// Records returns the live keys' records, in id order, without their last
// use (which each node keeps for itself).
func (k *Keys) Records() []store.KeyRecord {
	k.mu.RLock()
	out := make([]store.KeyRecord, 0, len(k.byID))
	for _, e := range k.byID {
		r := e.rec
		r.LastUsedAt = 0
		out = append(out, r)
	}
	k.mu.RUnlock()
	slices.SortFunc(out, func(a, b store.KeyRecord) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Apply makes rec a live key here, durably (the store first), as Create
// would have. It is idempotent: a record equal to the live one changes
// nothing. A record whose hash differs from the live key of that id
// replaces it and closes the old one's revocation channel, since the old
// secret no longer opens anything; a changed name or scope keeps the
// channel. The key's local last use is kept. A record that cannot be
// checked (no SHA-256, unknown scope) is refused.
func (k *Keys) Apply(rec store.KeyRecord) error {
	sc := api.Scope(rec.Scope)
	if rec.ID == "" || len(rec.Hash) != sha256.Size || !sc.Valid() {
		return fmt.Errorf("apikeys: apply key %q: damaged record", rec.ID)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old := k.byID[rec.ID]
	if old != nil && bytes.Equal(old.rec.Hash, rec.Hash) && old.rec.Name == rec.Name &&
		old.rec.Scope == rec.Scope && old.rec.CreatedAt == rec.CreatedAt {
		return nil
	}
	rec.LastUsedAt = 0
	if old != nil {
		rec.LastUsedAt = old.used.Load()
	}
	// Under the lock, so that an Apply and a Forget of one id are stored
	// in the order they are indexed.
	if err := k.st.PutAPIKey(rec); err != nil {
		return fmt.Errorf("apikeys: apply key %q: %w", rec.ID, err)
	}
	e := &entry{rec: rec, scope: sc, revoked: make(chan struct{})}
	e.used.Store(rec.LastUsedAt)
	e.flushed.Store(rec.LastUsedAt)
	if old != nil {
		delete(k.byHash, [sha256.Size]byte(old.rec.Hash))
		if bytes.Equal(old.rec.Hash, rec.Hash) {
			// Same secret: connections it opened stay tied to the key.
			e.revoked = old.revoked
		} else {
			close(old.revoked)
		}
	}
	k.byHash[[sha256.Size]byte(rec.Hash)] = e
	k.byID[rec.ID] = e
	k.log.Info("api key applied", "key_id", rec.ID, "name", rec.Name, "scope", rec.Scope)
	return nil
}

// Forget revokes key id here because it was revoked in the cluster: it is
// dropped from the index and its revocation channel closed, then deleted
// from the store. Unlike Revoke it drops the key even when the store write
// fails (the revocation is already decided elsewhere; the error is
// returned, and the cluster's record removes the key again at the next
// start), and an unknown id is not an error.
func (k *Keys) Forget(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	e := k.byID[id]
	if e == nil {
		return nil
	}
	k.dropLocked(e)
	k.log.Info("api key forgotten", "key_id", id)
	if err := k.st.DeleteAPIKey(id); err != nil {
		return fmt.Errorf("apikeys: forget key %q: %w", id, err)
	}
	return nil
}
