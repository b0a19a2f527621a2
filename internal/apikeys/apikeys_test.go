package apikeys

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// countingStore is the real store, counting the last-use writes.
type countingStore struct {
	*store.Store
	touches int
}

func (s *countingStore) TouchAPIKeys(used map[string]int64) error {
	s.touches++
	return s.Store.TouchAPIKeys(used)
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newKeys(t *testing.T, st Store) *Keys {
	t.Helper()
	k, err := New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func isCode(err error, code api.Code) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Code == code
}

func TestCreateAuthenticateRevoke(t *testing.T) {
	k := newKeys(t, openStore(t, t.TempDir()))
	ctx := context.Background()
	made := map[api.Scope]api.KeyCreateResult{}
	for _, sc := range api.Scopes {
		r, err := k.Create(ctx, api.KeyCreateParams{Name: "n-" + string(sc), Scope: sc})
		if err != nil {
			t.Fatal(err)
		}
		made[sc] = r
		id, scope, revoked, ok := k.Authenticate(r.Key)
		if !ok || id != r.KeyID || scope != sc || revoked == nil {
			t.Fatalf("Authenticate(%s key) = %q %q %v", sc, id, scope, ok)
		}
	}
	r := made[api.ScopeControl]
	for _, wrong := range []string{"", "lsk_", r.Key + "x", r.Key[:len(r.Key)-1], strings.TrimPrefix(r.Key, Prefix), strings.ToUpper(r.Key)} {
		if _, _, _, ok := k.Authenticate(wrong); ok {
			t.Errorf("Authenticate(%q) passed", wrong)
		}
	}
	_, _, revoked, _ := k.Authenticate(r.Key)
	if _, err := k.Revoke(ctx, api.KeyRevokeParams{KeyID: r.KeyID}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	default:
		t.Fatal("the revocation channel is not closed")
	}
	if _, _, _, ok := k.Authenticate(r.Key); ok {
		t.Error("a revoked key authenticates")
	}
	if _, _, ok := k.Lookup(r.KeyID); ok {
		t.Error("a revoked key is looked up")
	}
	if _, err := k.Revoke(ctx, api.KeyRevokeParams{KeyID: r.KeyID}); !isCode(err, api.CodeNoSuchKey) {
		t.Errorf("revoking twice: %v, want 213", err)
	}
	list, _ := k.List(ctx, struct{}{})
	if len(list.Keys) != 2 {
		t.Fatalf("List: %+v, want the two live keys", list.Keys)
	}
	for _, key := range list.Keys {
		if key.KeyID == r.KeyID {
			t.Errorf("List shows the revoked key")
		}
	}
}

func TestCreateRefusals(t *testing.T) {
	k := newKeys(t, openStore(t, t.TempDir()))
	for _, p := range []api.KeyCreateParams{
		{Name: "x", Scope: ""},
		{Name: "x", Scope: "Admin"},
		{Name: "x", Scope: "write"},
		{Name: strings.Repeat("é", 101), Scope: api.ScopeRead},
		{Name: "\xff", Scope: api.ScopeRead},
	} {
		if _, err := k.Create(context.Background(), p); !isCode(err, api.CodeInvalidParams) {
			t.Errorf("Create(%+q): %v, want 103", p, err)
		}
	}
}

// TestReload checks that keys survive a restart by their hash alone, that
// a revocation does too, and that a damaged record is ignored, not
// admitted.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	k := newKeys(t, st)
	ctx := context.Background()
	a, _ := k.Create(ctx, api.KeyCreateParams{Name: "a", Scope: api.ScopeRead})
	b, _ := k.Create(ctx, api.KeyCreateParams{Name: "b", Scope: api.ScopeAdmin})
	if _, err := k.Revoke(ctx, api.KeyRevokeParams{KeyID: b.KeyID}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutAPIKey(store.KeyRecord{ID: "damaged", Scope: "admin", Hash: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	k2 := newKeys(t, st)
	if _, scope, _, ok := k2.Authenticate(a.Key); !ok || scope != api.ScopeRead {
		t.Errorf("a key after reload: %q %v", scope, ok)
	}
	if _, _, _, ok := k2.Authenticate(b.Key); ok {
		t.Error("a revoked key came back after reload")
	}
	list, _ := k2.List(ctx, struct{}{})
	if len(list.Keys) != 1 || list.Keys[0].KeyID != a.KeyID || list.Keys[0].Name != "a" || list.Keys[0].CreatedAt != a.CreatedAt {
		t.Errorf("List after reload: %+v", list.Keys)
	}
}

// TestLastUsed checks that a use shows in List at once, and reaches the
// store at most once per flush, only when it changed.
func TestLastUsed(t *testing.T) {
	dir := t.TempDir()
	st := &countingStore{Store: openStore(t, dir)}
	k := newKeys(t, st)
	now := time.Unix(1_800_000_000, 0)
	k.now = func() time.Time { return now }
	ctx := context.Background()
	r, _ := k.Create(ctx, api.KeyCreateParams{Name: "a", Scope: api.ScopeRead})
	k.Flush()
	if st.touches != 0 {
		t.Fatalf("a flush with no use wrote %d times", st.touches)
	}
	now = now.Add(5 * time.Second)
	for range 100 {
		k.Authenticate(r.Key)
	}
	list, _ := k.List(ctx, struct{}{})
	if got := list.Keys[0].LastUsedAt; got != now.Unix() {
		t.Fatalf("last_used_at %d, want %d", got, now.Unix())
	}
	k.Flush()
	k.Flush()
	if st.touches != 1 {
		t.Fatalf("100 uses and two flushes wrote %d times, want 1", st.touches)
	}
	now = now.Add(time.Minute)
	k.Touch(r.KeyID)
	runCtx, cancel := context.WithCancel(ctx)
	cancel()
	if err := k.Run(runCtx); err != nil { // flushes once as it ends
		t.Fatal(err)
	}
	if st.touches != 2 {
		t.Fatalf("writes %d, want 2", st.touches)
	}
	recs, err := st.APIKeys()
	if err != nil || len(recs) != 1 || recs[0].LastUsedAt != now.Unix() {
		t.Fatalf("stored: %+v, %v; want last use %d", recs, err, now.Unix())
	}
	if strings.Contains(string(recs[0].Hash), r.Key) {
		t.Fatal("the record holds the key")
	}
}
