package webui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1:6810"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesFilesWithTypes(t *testing.T) {
	for _, tc := range []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="main.js">`},
		{"/index.html", "text/html; charset=utf-8", "<title>Lodestone</title>"},
		{"/main.js", "text/javascript; charset=utf-8", "task.list"},
		{"/conn.js", "text/javascript; charset=utf-8", "WebSocket"},
		{"/style.css", "text/css; charset=utf-8", "prefers-color-scheme: dark"},
		{"/icon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := get(t, "GET", tc.path, nil)
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			if got := r.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := r.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			csp := r.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws://127.0.0.1:6810 wss://127.0.0.1:6810", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("CSP %q allows unsafe sources", csp)
			}
			if b := body(t, r); !strings.Contains(b, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	for _, p := range []string{"/nope", "/main.ts", "/dist/index.html", "/src/main.ts", "/favicon.ico"} {
		if r := get(t, "GET", p, nil); r.StatusCode != 404 {
			t.Errorf("GET %s: status %d, want 404", p, r.StatusCode)
		}
	}
	r := get(t, "POST", "/", nil)
	if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: status %d Allow %q, want 405 GET, HEAD", r.StatusCode, r.Header.Get("Allow"))
	}
	r = get(t, "HEAD", "/main.js", nil)
	if r.StatusCode != 200 || body(t, r) != "" || r.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD /main.js: status %d, want 200, a length and no body", r.StatusCode)
	}
}

func TestGzipAndETag(t *testing.T) {
	plain := get(t, "GET", "/main.js", nil)
	want := body(t, plain)
	if plain.Header.Get("Content-Encoding") != "" {
		t.Fatal("gzip without Accept-Encoding")
	}
	z := get(t, "GET", "/main.js", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if z.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(z.Header.Get("Vary"), "Accept-Encoding") {
		t.Fatalf("Content-Encoding %q Vary %q, want gzip", z.Header.Get("Content-Encoding"), z.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(body(t, z))))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if string(got) != want {
		t.Error("gzip body differs from the plain one")
	}
	if z.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Error("gzip and plain bodies share an ETag")
	}
	if r := get(t, "GET", "/main.js", map[string]string{"Accept-Encoding": "gzip;q=0"}); r.Header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
	r := get(t, "GET", "/main.js", map[string]string{"If-None-Match": plain.Header.Get("ETag")})
	if r.StatusCode != 304 || body(t, r) != "" {
		t.Errorf("If-None-Match: status %d, want 304 and no body", r.StatusCode)
	}
}

// The page must work under its own CSP: no inline script or style, and
// every file it or a module names must be served.
func TestPageIsSelfContained(t *testing.T) {
	html := body(t, get(t, "GET", "/", nil))
	if regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(html) {
		t.Error("index.html has an inline script")
	}
	if regexp.MustCompile(`(?i)<script\b[^>]*>`).FindAllString(html, -1) == nil {
		t.Error("index.html loads no script")
	}
	for _, s := range regexp.MustCompile(`(?i)<script\b[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(s, "src=") {
			t.Errorf("inline script: %s", s)
		}
	}
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", "javascript:", `src="//`, `href="//`, `src="http`, `href="http`} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("index.html contains %q (inline code or an outside resource)", bad)
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(html, -1)
	jsImport := regexp.MustCompile(`(?m)^(?:import|export)\b[^"']*["']\./([^"']+)["']`)
	seen := map[string]bool{}
	queue := []string{}
	for _, m := range refs {
		queue = append(queue, m[1])
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		r := get(t, "GET", "/"+name, nil)
		if r.StatusCode != 200 {
			t.Errorf("%s is referenced but answers %d", name, r.StatusCode)
			continue
		}
		if strings.HasSuffix(name, ".js") {
			for _, m := range jsImport.FindAllStringSubmatch(body(t, r), -1) {
				queue = append(queue, m[1])
			}
		}
	}
	for _, want := range []string{"main.js", "conn.js", "table.js", "style.css", "icon.svg"} {
		if !seen[want] {
			t.Errorf("%s not reached from index.html", want)
		}
	}
}

func TestCSPHost(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:6810":     "connect-src 'self' ws://127.0.0.1:6810 wss://127.0.0.1:6810;",
		"[::1]:6810":         "connect-src 'self' ws://[::1]:6810 wss://[::1]:6810;",
		"box.localhost":      "connect-src 'self' ws://box.localhost wss://box.localhost;",
		"a b; script-src *":  "connect-src 'self' ws: wss:;",
		"evil.example:1;x=y": "connect-src 'self' ws: wss:;",
	} {
		if got := CSP(host); !strings.Contains(got, want) {
			t.Errorf("CSP(%q) = %q, want %q in it", host, got, want)
		}
	}
}
