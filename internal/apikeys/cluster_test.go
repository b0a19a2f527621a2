package apikeys

import (
	"context"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestApplyForget: a key minted on one node (nothing stored there) and
// applied on another authenticates there, survives that node's restart,
// and applying it again changes nothing (the same revocation channel);
// Forget closes the channel, removes it from the store, and is quiet about
// an unknown id.
func TestApplyForget(t *testing.T) {
	ctx := context.Background()
	origin := newKeys(t, openStore(t, t.TempDir()))
	rec, res, err := origin.Mint(api.KeyCreateParams{Name: "cluster", Scope: api.ScopeControl})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := origin.Authenticate(res.Key); ok {
		t.Fatal("Mint indexed the key")
	}
	if recs := origin.Records(); len(recs) != 0 {
		t.Fatalf("Mint stored the key: %+v", recs)
	}

	dir := t.TempDir()
	st := openStore(t, dir)
	k := newKeys(t, st)
	if err := k.Apply(rec); err != nil {
		t.Fatal(err)
	}
	id, scope, revoked, ok := k.Authenticate(res.Key)
	if !ok || id != rec.ID || scope != api.ScopeControl {
		t.Fatalf("Authenticate after Apply: %q %q %v", id, scope, ok)
	}
	if err := k.Apply(rec); err != nil {
		t.Fatal(err)
	}
	if _, _, again, _ := k.Authenticate(res.Key); again != revoked {
		t.Error("applying the same record again replaced the entry")
	}
	recs := k.Records()
	if len(recs) != 1 || recs[0].ID != rec.ID || string(recs[0].Hash) != string(rec.Hash) || recs[0].LastUsedAt != 0 {
		t.Fatalf("Records: %+v", recs)
	}
	if _, _, _, ok := newKeys(t, st).Authenticate(res.Key); !ok {
		t.Error("an applied key is gone after a restart: it was not stored")
	}

	if err := k.Forget(rec.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	default:
		t.Fatal("Forget did not close the revocation channel")
	}
	if _, _, _, ok := k.Authenticate(res.Key); ok {
		t.Error("a forgotten key authenticates")
	}
	if _, _, _, ok := newKeys(t, st).Authenticate(res.Key); ok {
		t.Error("a forgotten key came back after a restart")
	}
	if err := k.Forget(rec.ID); err != nil {
		t.Errorf("Forget of an unknown id: %v", err)
	}
	if _, err := k.Revoke(ctx, api.KeyRevokeParams{KeyID: rec.ID}); !isCode(err, api.CodeNoSuchKey) {
		t.Errorf("Revoke after Forget: %v, want 213", err)
	}
}

// TestApplyReplaces: a record with another hash for a live id ends the old
// secret (its channel closes); one that only renames keeps the channel.
func TestApplyReplaces(t *testing.T) {
	k := newKeys(t, openStore(t, t.TempDir()))
	rec, res, _ := k.Mint(api.KeyCreateParams{Name: "a", Scope: api.ScopeRead})
	if err := k.Apply(rec); err != nil {
		t.Fatal(err)
	}
	_, _, revoked, _ := k.Authenticate(res.Key)

	renamed := rec
	renamed.Name = "b"
	if err := k.Apply(renamed); err != nil {
		t.Fatal(err)
	}
	if _, _, ch, ok := k.Authenticate(res.Key); !ok || ch != revoked {
		t.Fatalf("after a rename: ok %v, same channel %v", ok, ch == revoked)
	}
	if l, _ := k.List(context.Background(), struct{}{}); len(l.Keys) != 1 || l.Keys[0].Name != "b" {
		t.Fatalf("List after a rename: %+v", l.Keys)
	}

	other, res2, _ := k.Mint(api.KeyCreateParams{Name: "b", Scope: api.ScopeRead})
	other.ID = rec.ID
	if err := k.Apply(other); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	default:
		t.Fatal("a new hash for the id left the old secret's channel open")
	}
	if _, _, _, ok := k.Authenticate(res.Key); ok {
		t.Error("the replaced secret still authenticates")
	}
	if id, _, _, ok := k.Authenticate(res2.Key); !ok || id != rec.ID {
		t.Errorf("the new secret: %q %v", id, ok)
	}
}

// TestApplyRefusesDamaged: a record that cannot be checked is not admitted.
func TestApplyRefusesDamaged(t *testing.T) {
	k := newKeys(t, openStore(t, t.TempDir()))
	good, _, _ := k.Mint(api.KeyCreateParams{Name: "a", Scope: api.ScopeRead})
	for name, mut := range map[string]func(*store.KeyRecord){
		"short hash": func(r *store.KeyRecord) { r.Hash = r.Hash[:16] },
		"bad scope":  func(r *store.KeyRecord) { r.Scope = "root" },
		"no id":      func(r *store.KeyRecord) { r.ID = "" },
	} {
		r := good
		mut(&r)
		if err := k.Apply(r); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	if recs := k.Records(); len(recs) != 0 {
		t.Errorf("damaged records admitted: %+v", recs)
	}
}
