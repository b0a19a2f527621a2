package fetch

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestPrivateAddressesRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer srv.Close()
	f := New(Options{})
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		if _, err := f.Get(context.Background(), u); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Get(%s) = %v, want ErrForbiddenAddress", u, err)
		}
	}
}

func TestLimits(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2000)) })
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("d4:infoe")) })
	mux.HandleFunc("/404", http.NotFound)
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := New(Options{AllowPrivate: true, MaxBytes: 1000})
	if b, err := f.Get(context.Background(), srv.URL+"/ok"); err != nil || string(b) != "d4:infoe" {
		t.Errorf("ok: %q, %v", b, err)
	}
	for _, p := range []string{"/big", "/404", "/loop", "/file"} {
		if _, err := f.Get(context.Background(), srv.URL+p); !errors.Is(err, ErrFetch) {
			t.Errorf("%s: %v, want ErrFetch", p, err)
		}
	}
	for _, u := range []string{"ftp://x/y", "javascript:alert(1)", "http://", "/relative"} {
		if _, err := CheckURL(u); err == nil {
			t.Errorf("CheckURL(%q) accepted", u)
		}
	}
}

// TestDial: with Options.Dial (a proxy's dialer), every connection is
// its, a host name reaches it unresolved, and a non-public address
// literal is refused without asking it; the proxy itself may be on
// loopback.
func TestDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("via " + r.Host)) }))
	defer srv.Close()
	var mu sync.Mutex
	var asked []string
	f := New(Options{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		asked = append(asked, addr)
		mu.Unlock()
		// The "proxy" connects every target to srv, on loopback.
		var d net.Dialer
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}})
	body, err := f.Get(context.Background(), "http://feeds.example/rss")
	if err != nil || string(body) != "via feeds.example" {
		t.Fatalf("Get through the dialer = %q, %v", body, err)
	}
	if _, err := f.Get(context.Background(), srv.URL); !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("Get(%s) through the dialer = %v, want ErrForbiddenAddress", srv.URL, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || asked[0] != "feeds.example:80" {
		t.Errorf("the dialer was asked %v, want only feeds.example:80", asked)
	}
}
