package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// The profiler answers only what the API would, and never the command
// line, which may hold the token (issue 15, item 13).
func TestPprofHandlerGuarded(t *testing.T) {
	const token = "pprof-test-token-0123456789"
	g, err := httpguard.New(httpguard.Config{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pprofHandler(g))
	t.Cleanup(srv.Close)
	get := func(path, host, tok string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	for _, tc := range []struct {
		name, path, host, token string
		want                    int
	}{
		{"rebound DNS name", "/debug/pprof/", "evil.example", token, http.StatusForbidden},
		{"rebound DNS name, command line", "/debug/pprof/cmdline", "evil.example:6060", token, http.StatusForbidden},
		{"no token", "/debug/pprof/", "", "", http.StatusUnauthorized},
		{"wrong token", "/debug/pprof/heap", "", "guess", http.StatusUnauthorized},
		{"command line, even with the token", "/debug/pprof/cmdline", "", token, http.StatusNotFound},
		{"index with the token", "/debug/pprof/", "", token, http.StatusOK},
		{"a profile with the token", "/debug/pprof/heap?debug=1", "", token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.path, tc.host, tc.token)
			if status != tc.want {
				t.Errorf("GET %s: %d, want %d", tc.path, status, tc.want)
			}
			if strings.Contains(body, token) {
				t.Errorf("GET %s answered the token", tc.path)
			}
		})
	}
}
