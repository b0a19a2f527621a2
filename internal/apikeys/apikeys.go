// Package apikeys owns the scoped API keys (issue 17): it creates them with
// crypto/rand, keeps only their SHA-256 (in the store, and in memory in an
// index by hash, so a request's key is found with one map lookup), revokes
// them, and records when each was last used. It answers key.create, key.list and key.revoke;
// httpguard asks it whether a credential is a live key.
package apikeys

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Prefix starts every key, so that a key is recognisable in a config file
// or a leak scanner, and is never confused with the daemon's token.
const Prefix = "lsk_"

// secretBytes is the randomness of a key: 256 bits.
const secretBytes = 32

// FlushInterval is how often last-use times are written to the store: at
// most once per interval per key, whatever the request rate.
const FlushInterval = time.Minute

// maxNameLen caps a key's name, in bytes.
const maxNameLen = 200

// Store is what the keys need of the store.
type Store interface {
	APIKeys() ([]store.KeyRecord, error)
	PutAPIKey(store.KeyRecord) error
	DeleteAPIKey(id string) error
	TouchAPIKeys(used map[string]int64) error
}

// entry is one live key in memory.
type entry struct {
	rec     store.KeyRecord // LastUsedAt is not kept up to date here
	scope   api.Scope
	revoked chan struct{} // closed by Revoke
	// used is the last use (unix seconds); flushed is the value last
	// written to the store.
	used    atomic.Int64
	flushed atomic.Int64
}

// Keys is the set of live keys. It is safe for concurrent use.
type Keys struct {
	st  Store
	log *slog.Logger
	now func() time.Time

	// mu guards the maps; entries' used fields are atomics.
	mu     sync.RWMutex
	byHash map[[sha256.Size]byte]*entry
	byID   map[string]*entry
}

// New loads the stored keys.
func New(st Store, log *slog.Logger) (*Keys, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	recs, err := st.APIKeys()
	if err != nil {
		return nil, fmt.Errorf("apikeys: %w", err)
	}
	k := &Keys{st: st, log: log, now: time.Now,
		byHash: make(map[[sha256.Size]byte]*entry, len(recs)),
		byID:   make(map[string]*entry, len(recs))}
	for _, r := range recs {
		sc := api.Scope(r.Scope)
		if len(r.Hash) != sha256.Size || !sc.Valid() {
			// Never admit what cannot be checked; say so rather than fail.
			log.Warn("stored api key ignored: damaged record", "key_id", r.ID)
			continue
		}
		k.addLocked(r)
	}
	return k, nil
}

// addLocked indexes r; k.mu is held (or k is not shared yet).
func (k *Keys) addLocked(r store.KeyRecord) {
	e := &entry{rec: r, scope: api.Scope(r.Scope), revoked: make(chan struct{})}
	e.used.Store(r.LastUsedAt)
	e.flushed.Store(r.LastUsedAt)
	k.byHash[[sha256.Size]byte(r.Hash)] = e
	k.byID[r.ID] = e
}

// invalid returns an *api.Error with code 103.
func invalid(format string, args ...any) error {
	return &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

// Mint validates p and makes a new key: its record (id, name, scope, hash,
// creation time) and the answer that carries the secret. It stores nothing
// and indexes nothing: Create stores the record here, and a cluster node
// (internal/cluster/keyring) stores it in the cluster first, then calls Apply.
func (k *Keys) Mint(p api.KeyCreateParams) (store.KeyRecord, api.KeyCreateResult, error) {
	if !p.Scope.Valid() {
		return store.KeyRecord{}, api.KeyCreateResult{}, invalid("scope %q is not one of read, control, admin", p.Scope)
	}
	if len(p.Name) > maxNameLen || !utf8.ValidString(p.Name) {
		return store.KeyRecord{}, api.KeyCreateResult{}, invalid("name must be valid UTF-8 of at most %d bytes", maxNameLen)
	}
	var id [8]byte
	secret := make([]byte, secretBytes)
	rand.Read(id[:]) // never fails (crypto/rand)
	rand.Read(secret)
	key := Prefix + base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(key))
	rec := store.KeyRecord{
		ID: hex.EncodeToString(id[:]), Name: p.Name, Scope: string(p.Scope),
		Hash: sum[:], CreatedAt: k.now().Unix(),
	}
	return rec, api.KeyCreateResult{KeyID: rec.ID, Key: key, Name: rec.Name, Scope: p.Scope, CreatedAt: rec.CreatedAt}, nil
}

// Create makes a key of scope named name and stores its hash durably
// before it returns the secret, which nothing keeps.
func (k *Keys) Create(_ context.Context, p api.KeyCreateParams) (api.KeyCreateResult, error) {
	rec, res, err := k.Mint(p)
	if err != nil {
		return api.KeyCreateResult{}, err
	}
	// Stored first, outside the lock (nobody knows the key yet), so that
	// the write does not hold up the authentication of other keys.
	if err := k.st.PutAPIKey(rec); err != nil {
		return api.KeyCreateResult{}, err
	}
	k.mu.Lock()
	k.addLocked(rec)
	k.mu.Unlock()
	k.log.Info("api key created", "key_id", rec.ID, "name", rec.Name, "scope", rec.Scope)
	return res, nil
}

// List returns the live keys, oldest first (then by id), never a secret.
func (k *Keys) List(context.Context, struct{}) (api.KeyListResult, error) {
	k.mu.RLock()
	out := make([]api.Key, 0, len(k.byID))
	for _, e := range k.byID {
		out = append(out, api.Key{KeyID: e.rec.ID, Name: e.rec.Name, Scope: e.scope,
			CreatedAt: e.rec.CreatedAt, LastUsedAt: e.used.Load()})
	}
	k.mu.RUnlock()
	slices.SortFunc(out, func(a, b api.Key) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), strings.Compare(a.KeyID, b.KeyID))
	})
	return api.KeyListResult{Keys: out}, nil
}

// Revoke deletes key id durably, then drops it from the index and closes
// its revocation channel (under the lock throughout, so that two revokes
// of one key cannot both close it): from then on it authenticates nothing, and open
// connections and sessions it authenticated see it at their next use.
// An unknown id is 213.
func (k *Keys) Revoke(_ context.Context, p api.KeyRevokeParams) (api.Empty, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.byID[p.KeyID]
	if !ok {
		return api.Empty{}, &api.Error{Code: api.CodeNoSuchKey, Message: fmt.Sprintf("no key with key_id %q", p.KeyID)}
	}
	if err := k.st.DeleteAPIKey(p.KeyID); err != nil {
		return api.Empty{}, err
	}
	k.dropLocked(e)
	k.log.Info("api key revoked", "key_id", p.KeyID)
	return api.Empty{}, nil
}

// dropLocked removes e from the index and closes its revocation channel;
// k.mu is held.
func (k *Keys) dropLocked(e *entry) {
	delete(k.byID, e.rec.ID)
	delete(k.byHash, [sha256.Size]byte(e.rec.Hash))
	close(e.revoked)
}

// Authenticate reports whether secret is a live key, and if so its id,
// its scope and a channel closed when it is revoked; the use is recorded
// (last_used_at). The secret is looked up by its SHA-256: the time taken
// depends on the hash, which tells a guesser nothing about a key.
func (k *Keys) Authenticate(secret string) (id string, scope api.Scope, revoked <-chan struct{}, ok bool) {
	if !strings.HasPrefix(secret, Prefix) {
		return "", "", nil, false
	}
	sum := sha256.Sum256([]byte(secret))
	k.mu.RLock()
	e := k.byHash[sum]
	k.mu.RUnlock()
	if e == nil {
		return "", "", nil, false
	}
	e.used.Store(k.now().Unix())
	return e.rec.ID, e.scope, e.revoked, true
}

// Lookup returns live key id's scope and the channel closed when it is
// revoked, and records a use (a web UI session the key opened); ok is
// false for an id that is not live.
func (k *Keys) Lookup(id string) (scope api.Scope, revoked <-chan struct{}, ok bool) {
	k.mu.RLock()
	e := k.byID[id]
	k.mu.RUnlock()
	if e == nil {
		return "", nil, false
	}
	e.used.Store(k.now().Unix())
	return e.scope, e.revoked, true
}

// Touch records a use of key id now (a request on a connection or session
// it opened), if it is live.
func (k *Keys) Touch(id string) {
	k.mu.RLock()
	e := k.byID[id]
	k.mu.RUnlock()
	if e != nil {
		e.used.Store(k.now().Unix())
	}
}

// Run writes last-use times to the store every FlushInterval, and once
// more when ctx ends; it returns nil then.
func (k *Keys) Run(ctx context.Context) error {
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			k.Flush()
			return nil
		case <-t.C:
			k.Flush()
		}
	}
}

// Flush writes the last-use times that changed since the last flush. A
// failure is logged; the times stay pending for the next flush.
func (k *Keys) Flush() {
	used := map[string]int64{}
	var es []*entry
	k.mu.RLock()
	for id, e := range k.byID {
		if u := e.used.Load(); u != e.flushed.Load() {
			used[id] = u
			es = append(es, e)
		}
	}
	k.mu.RUnlock()
	if len(used) == 0 {
		return
	}
	if err := k.st.TouchAPIKeys(used); err != nil {
		k.log.Warn("write api key last use", "err", err)
		return
	}
	for _, e := range es {
		e.flushed.Store(used[e.rec.ID])
	}
}
