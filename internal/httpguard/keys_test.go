package httpguard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

const keysTestToken = "the-daemon-token-0123456789"

// twinKeys is an in-memory twin of internal/apikeys (which this package
// may not import: deptest), with the same contract.
type twinKeys struct {
	mu      sync.Mutex
	byKey   map[string]string // secret → id
	scope   map[string]api.Scope
	revoked map[string]chan struct{}
}

func newTwinKeys() *twinKeys {
	return &twinKeys{byKey: map[string]string{}, scope: map[string]api.Scope{}, revoked: map[string]chan struct{}{}}
}

func (k *twinKeys) add(id, secret string, sc api.Scope) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.byKey[secret], k.scope[id], k.revoked[id] = id, sc, make(chan struct{})
}

func (k *twinKeys) revoke(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for s, i := range k.byKey {
		if i == id {
			delete(k.byKey, s)
		}
	}
	close(k.revoked[id])
	delete(k.scope, id)
}

func (k *twinKeys) Authenticate(secret string) (string, api.Scope, <-chan struct{}, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	id, ok := k.byKey[secret]
	return id, k.scope[id], k.revoked[id], ok
}

func (k *twinKeys) Lookup(id string) (api.Scope, <-chan struct{}, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sc, ok := k.scope[id]
	return sc, k.revoked[id], ok
}

func (k *twinKeys) Touch(string) {}

// keyServer serves /session, /admin (AuthorizeScope admin) and everything
// else with Authorize, answering the principal's id and scope.
func keyServer(t *testing.T) (*httptest.Server, *twinKeys) {
	t.Helper()
	keys := newTwinKeys()
	g, err := New(Config{Token: keysTestToken, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal in an admitted request")
		}
		io.WriteString(w, p.ID+" "+string(p.Scope))
	})
	mux := http.NewServeMux()
	mux.Handle("/session", g.SessionHandler())
	mux.Handle("/admin", g.AuthorizeScope(api.ScopeAdmin, who))
	mux.Handle("/", g.Authorize(who))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, keys
}

func get(t *testing.T, c *http.Client, u string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestKeyCredentials checks every way a key is presented (bearer,
// ?token=, a session cookie traded for it), the principal each admitted
// request carries, the scope gate, and revocation: the key and its
// session are refused at once, the token never.
func TestKeyCredentials(t *testing.T) {
	srv, keys := keyServer(t)
	k := struct{ KeyID, Key string }{"0123abcd0123abcd", "lsk_secret"}
	keys.add(k.KeyID, k.Key, api.ScopeRead)
	c := srv.Client()
	want := k.KeyID + " read"
	if code, body := get(t, c, srv.URL+"/x", "Authorization", "Bearer "+k.Key); code != 200 || body != want {
		t.Errorf("bearer key: %d %q, want %q", code, body, want)
	}
	if code, body := get(t, c, srv.URL+"/x?token="+url.QueryEscape(k.Key)); code != 200 || body != want {
		t.Errorf("?token=key: %d %q", code, body)
	}
	if code, body := get(t, c, srv.URL+"/x", "Authorization", "Bearer "+keysTestToken); code != 200 || body != "token admin" {
		t.Errorf("token: %d %q", code, body)
	}
	if code, _ := get(t, c, srv.URL+"/admin", "Authorization", "Bearer "+k.Key); code != http.StatusForbidden {
		t.Errorf("a read key on an admin endpoint: %d, want 403", code)
	}
	if code, body := get(t, c, srv.URL+"/admin", "Authorization", "Bearer "+keysTestToken); code != 200 || body != "token admin" {
		t.Errorf("the token on an admin endpoint: %d %q", code, body)
	}

	// A session traded for the key carries the key, not the token.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/session", nil)
	req.Header.Set("Authorization", "Bearer "+k.Key)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			cookie = ck
		}
	}
	if resp.StatusCode != http.StatusNoContent || cookie == nil {
		t.Fatalf("POST /session with a key: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	withCookie := func(v string) (int, string) {
		return get(t, c, srv.URL+"/x", "Cookie", SessionCookie+"="+v)
	}
	if code, body := withCookie(cookie.Value); code != 200 || body != want {
		t.Errorf("the key's session: %d %q, want %q", code, body, want)
	}
	// A forged key session (another id, the same MAC) is no session.
	if code, _ := withCookie("k.0000000000000000." + cookie.Value[len("k.")+len(k.KeyID)+1:]); code != http.StatusUnauthorized {
		t.Errorf("a forged key session: %d, want 401", code)
	}

	keys.revoke(k.KeyID)
	if code, _ := get(t, c, srv.URL+"/x", "Authorization", "Bearer "+k.Key); code != http.StatusUnauthorized {
		t.Errorf("a revoked key: %d, want 401", code)
	}
	if code, _ := withCookie(cookie.Value); code != http.StatusUnauthorized {
		t.Errorf("a revoked key's session: %d, want 401", code)
	}
	if code, _ := get(t, c, srv.URL+"/x", "Authorization", "Bearer "+keysTestToken); code != 200 {
		t.Errorf("the token after a revocation: %d", code)
	}
}
