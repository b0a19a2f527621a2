package daemon_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

// The daemon's own HTTP fetches through the proxy (issue 18): task.add's
// type "url", an RSS feed, a blocklist URL and a webhook delivery. They do not depend on
// the engine (the HTTP client is the daemon's, the same whichever core
// runs), so these tests run on the default core only.

// webServer is an HTTP server on a loopback address of its own that
// serves a .torrent, an RSS feed, a blocklist and a webhook receiver, and records the
// remote address of every connection it accepts.
type webServer struct {
	srv *httptest.Server

	mu    sync.Mutex
	from  []string // in dante's notation (ip.port)
	hooks int      // webhook deliveries received
}

func startWebServer(t *testing.T, host string, tr *enginetest.Torrent) *webServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	ws := &webServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /web.torrent", func(w http.ResponseWriter, r *http.Request) { w.Write(tr.MetaInfo) })
	mux.HandleFunc("GET /rss.xml", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(rssDoc([2]string{"Proxied Show S01E01", magnetOf(hashOf("proxied"))})))
	})
	mux.HandleFunc("GET /list.p2p", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("Some range:10.9.9.0-10.9.9.255\n"))
	})
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		ws.mu.Lock()
		ws.hooks++
		ws.mu.Unlock()
	})
	ws.srv = httptest.NewUnstartedServer(mux)
	ws.srv.Listener.Close()
	ws.srv.Listener = ln
	ws.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st != http.StateNew {
			return
		}
		ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
		ws.mu.Lock()
		ws.from = append(ws.from, ap.Addr().String()+"."+strings.TrimPrefix(c.RemoteAddr().String(), ap.Addr().String()+":"))
		ws.mu.Unlock()
	}
	ws.srv.Start()
	t.Cleanup(ws.srv.Close)
	return ws
}

func (ws *webServer) accepted() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]string(nil), ws.from...)
}

func (ws *webServer) dante() string {
	return strings.Replace(ws.srv.Listener.Addr().String(), ":", ".", 1)
}

func (ws *webServer) hooksReceived() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.hooks
}

// fetchConfig lets the daemon fetch from the loopback web server ws,
// and loads its blocklist.
func fetchConfig(ws *webServer) func(*daemon.Config) {
	return func(c *daemon.Config) {
		c.AllowPrivateURLs = true
		c.Blocklists = []string{ws.srv.URL + "/list.p2p"}
		fastRetries(c)
	}
}

// TestProxySOCKS5Fetches: proxy-only, a blocklist URL, a .torrent URL,
// an RSS feed and a webhook delivery are all fetched, each by a connection dante made for
// the daemon (the web server's view of its peer matched to dante's log).
func TestProxySOCKS5Fetches(t *testing.T) {
	d := dantetest.Start(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "fetched.bin", Size: 100_003, Seed: 191})
	ws := startWebServer(t, "127.0.0.9", tr)
	dm := proxyDaemon(t, d.URL(), fetchConfig(ws))
	c := dm.Client(t)
	// The blocklist was loaded at start.
	if set, err := c.Settings(ctxT(t, 10*time.Second)); err != nil || set.BlocklistRules != 1 {
		t.Errorf("session.get: %+v, %v: want the blocklist's rule loaded through the proxy", set, err)
	}

	hook := addWebhook(t, c, api.WebhookAddParams{URL: ws.srv.URL + "/hook", Events: []string{api.EventTaskAdded}})
	res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: ws.srv.URL + "/web.torrent", Paused: true})
	if err != nil {
		t.Fatalf("task.add url through the proxy: %v", err)
	}
	if res.TaskID != tr.InfoHash {
		t.Fatalf("task.add url = %+v, want %s", res, tr.InfoHash)
	}
	feed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: ws.srv.URL + "/rss.xml", IntervalS: 3600})
	if f := call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}); f.Title != "Test RSS" || f.Items != 1 || f.LastError != "" {
		t.Errorf("rss.refresh through the proxy: %+v", f)
	}
	waitDeliveries(t, c, hook.WebhookID, "the task.added delivery", 60*time.Second, func(ds []api.WebhookDelivery) bool {
		return len(ds) > 0 && ds[0].State == api.DeliveryDelivered
	})
	if ws.hooksReceived() == 0 {
		t.Error("the receiver got no delivery")
	}
	requireFromProxy(t, d, "the web server", ws)
}

// TestProxySOCKS5FetchesDown: with the proxy gone, the same four fail
// and the web server sees no connection at all.
func TestProxySOCKS5FetchesDown(t *testing.T) {
	d := dantetest.Start(t)
	d.Stop()
	tr := enginetest.Generate(t, enginetest.Content{Name: "unfetched.bin", Size: 100_003, Seed: 192})
	ws := startWebServer(t, "127.0.0.9", tr)
	dm := proxyDaemon(t, d.URL(), fetchConfig(ws))
	c := dm.Client(t)
	if set, err := c.Settings(ctxT(t, 10*time.Second)); err != nil || set.BlocklistRules != 0 {
		t.Errorf("session.get: %+v, %v: want no blocklist rule loaded", set, err)
	}

	hook := addWebhook(t, c, api.WebhookAddParams{URL: ws.srv.URL + "/hook", Events: []string{api.EventTaskAdded}})
	var ae *api.Error
	if _, err := c.AddTask(ctxT(t, 60*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: ws.srv.URL + "/web.torrent"}); !asCode(err, &ae, api.CodeFetchFailed) {
		t.Errorf("task.add url with the proxy down: %v, want fetch_failed", err)
	}
	feed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: ws.srv.URL + "/rss.xml", IntervalS: 3600})
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}, api.CodeFetchFailed)
	// A task added otherwise makes a task.added to deliver.
	addPaused(t, c, "hooked-down.bin")
	waitDeliveries(t, c, hook.WebhookID, "a failed attempt", 60*time.Second, func(ds []api.WebhookDelivery) bool {
		return len(ds) > 0 && ds[0].Attempts >= 2 && ds[0].Error != ""
	})
	if got := ws.accepted(); len(got) != 0 {
		t.Errorf("the web server saw %d direct connections: %v", len(got), got)
	}
	if ws.hooksReceived() != 0 {
		t.Error("a webhook was delivered without the proxy")
	}
}

// TestProxySOCKS5FetchSSRF: through the proxy, without
// --allow-private-urls, a URL naming a loopback address is refused
// before the proxy is asked (names are the proxy's to resolve, so only
// address literals can be checked).
func TestProxySOCKS5FetchSSRF(t *testing.T) {
	d := dantetest.Start(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "guarded.bin", Size: 100_003, Seed: 193})
	ws := startWebServer(t, "127.0.0.9", tr)
	dm := proxyDaemon(t, d.URL())
	c := dm.Client(t)
	var ae *api.Error
	if _, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: ws.srv.URL + "/web.torrent"}); !asCode(err, &ae, api.CodeFetchFailed) || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("task.add url of a loopback address through the proxy: %v, want fetch_failed, not allowed", err)
	}
	if got := ws.accepted(); len(got) != 0 {
		t.Errorf("the web server saw connections: %v", got)
	}
	if strings.Contains(d.Log(), ws.dante()) {
		t.Errorf("the proxy was asked to connect to %s:\n%s", ws.dante(), d.Log())
	}
}
