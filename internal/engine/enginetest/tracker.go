package enginetest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

// Tracker is a minimal HTTP tracker on 127.0.0.1 that answers every
// announce with a fixed list of peers (compact form) and counts announces.
type Tracker struct {
	// URL is the announce URL.
	URL string

	mu        sync.Mutex
	peers     []netip.AddrPort
	announces int
	events    []string
}

// StartTracker serves a tracker answering with peers (host:port) until the
// test ends.
func StartTracker(t testing.TB, peers ...string) *Tracker {
	t.Helper()
	tr := &Tracker{}
	for _, p := range peers {
		tr.peers = append(tr.peers, netip.MustParseAddrPort(p))
	}
	srv := httptest.NewServer(http.HandlerFunc(tr.announce))
	t.Cleanup(srv.Close)
	tr.URL = srv.URL + "/announce"
	return tr
}

// Events returns the event of every announce answered, in order ("" for
// a regular announce).
func (tr *Tracker) Events() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.events...)
}

// Announces returns how many announces the tracker answered.
func (tr *Tracker) Announces() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.announces
}

func (tr *Tracker) announce(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	tr.announces++
	tr.events = append(tr.events, r.URL.Query().Get("event"))
	var compact []byte
	for _, p := range tr.peers {
		compact = append(compact, p.Addr().AsSlice()...)
		compact = append(compact, byte(p.Port()>>8), byte(p.Port()))
	}
	tr.mu.Unlock()
	b, err := bencode.Marshal(map[string]any{"interval": 60, "peers": string(compact)})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Write(b)
}

// ClosedPort returns a 127.0.0.1 address where nothing listens: a tracker
// there refuses connections.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
