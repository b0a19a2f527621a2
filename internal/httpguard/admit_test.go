package httpguard

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// OnAdmit sees exactly the requests Check admits: the daemon marks their
// connections authenticated with it (issue 15, item 9).
func TestOnAdmit(t *testing.T) {
	var admitted []string
	g := newGuard(t, Config{OnAdmit: func(r *http.Request) { admitted = append(admitted, r.URL.Path) }})
	for _, tc := range []struct {
		path, auth string
		ok         bool
	}{
		{"/none", "", false},
		{"/wrong", "Bearer wrong", false},
		{"/right", "Bearer " + token, true},
	} {
		r := httptest.NewRequest("GET", "http://127.0.0.1"+tc.path, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if ref := g.Check(r); (ref == nil) != tc.ok {
			t.Fatalf("%s: refusal %v", tc.path, ref)
		}
	}
	if len(admitted) != 1 || admitted[0] != "/right" {
		t.Fatalf("OnAdmit saw %q, want only /right", admitted)
	}
}
