package apiserver

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// Handshakes racing Close: each is counted before Close waits, or refused
// with 503 after it began (http.Server.Shutdown does not wait for
// hijacked connections, so handshakes can still be running). The race
// detector checks the WaitGroup is never added to while being waited for.
func TestHandshakesRacingClose(t *testing.T) {
	g, err := httpguard.New(httpguard.Config{Token: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Guard: g}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 200 {
				r := httptest.NewRequest("GET", "http://127.0.0.1/ws", nil)
				r.RemoteAddr = "127.0.0.1:5000"
				s.ServeHTTP(httptest.NewRecorder(), r)
			}
		}()
	}
	close(start)
	s.Close()
	wg.Wait()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "http://127.0.0.1/ws?token=secret", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("a handshake after Close: HTTP %d, want 503", w.Code)
	}
}
