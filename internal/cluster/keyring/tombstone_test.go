package keyring

import (
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/apikeys"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// TestDeleteIsFinal: once a key id was deleted, a put of it delivered late
// (a recreated watcher's initial values racing this node's own Revoke) is
// not applied: the key does not authenticate again, here or after a
// restart from the store.
func TestDeleteIsFinal(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := apikeys.New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &Ring{keys: keys, revoked: map[string]bool{}}
	rec, res, err := keys.Mint(api.KeyCreateParams{Name: "k", Scope: api.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.applyPut(rec); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := keys.Authenticate(res.Key); !ok {
		t.Fatal("the applied key does not authenticate")
	}
	if err := r.applyDelete(rec.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.applyPut(rec); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := keys.Authenticate(res.Key); ok {
		t.Error("a put after the delete revived the key")
	}
	again, err := apikeys.New(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := again.Authenticate(res.Key); ok {
		t.Error("the revived key reached the store")
	}
}
