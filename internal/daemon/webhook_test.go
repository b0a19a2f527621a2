package daemon_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// hookReceiver is a webhook endpoint on loopback that checks what a
// receiver should — the HMAC of "<timestamp>.<body>" with the secret, the
// headers against the body — and keeps the events it accepted, one per
// X-Lodestone-Delivery (at-least-once delivery may repeat one).
type hookReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	secret string
	events map[string]api.Event // accepted, by delivery id
	tries  map[string]int       // requests, by delivery id
	// answer, when set, gives the status of the n-th request (from 1)
	// of a delivery; nil accepts everything with 200.
	answer func(n int) int
	// hold, when set, is waited on before answering.
	hold chan struct{}
	// arrived receives the delivery id of every request, without
	// blocking (buffered).
	arrived chan string
	changed chan struct{}
}

// newHookReceiver starts a receiver on addr ("": a fresh port).
func newHookReceiver(t *testing.T, addr string) *hookReceiver {
	r := &hookReceiver{t: t, events: map[string]api.Event{}, tries: map[string]int{},
		arrived: make(chan string, 1000), changed: make(chan struct{}, 1)}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// downAddr returns a loopback address where nothing listens (connections
// are refused) until a receiver is started on it. Its port lies below the
// kernel's ephemeral range, so no socket bound to port 0 (the daemon's
// listeners, outgoing connections) can take it meanwhile.
func downAddr(t *testing.T) string {
	for range 100 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: try another
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port below 32000 on 127.0.0.1")
	return ""
}

func (r *hookReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	id := req.Header.Get(api.HeaderWebhookDelivery)
	select {
	case r.arrived <- id:
	default:
	}
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// What a receiver checks, as docs/API.md shows it.
	ts := req.Header.Get(api.HeaderWebhookTimestamp)
	mac := hmac.New(sha256.New, []byte(r.secret))
	fmt.Fprintf(mac, "%s.%s", ts, body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get(api.HeaderWebhookSignature); !hmac.Equal([]byte(got), []byte(want)) {
		r.t.Errorf("delivery %s: signature %q, want %q", id, got, want)
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		r.t.Errorf("delivery %s: timestamp %q: %v", id, ts, err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("delivery %s: %s with Content-Type %q", id, req.Method, req.Header.Get("Content-Type"))
	}
	var ev api.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("delivery %s: body %q: %v", id, body, err)
	}
	if ev.ID != id || ev.Name != req.Header.Get(api.HeaderWebhookEvent) {
		r.t.Errorf("headers %s/%s for event %s/%s", id, req.Header.Get(api.HeaderWebhookEvent), ev.ID, ev.Name)
	}
	r.tries[id]++
	status := http.StatusOK
	if r.answer != nil {
		status = r.answer(r.tries[id])
	}
	if status/100 == 2 {
		r.events[id] = ev
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(status)
}

// waitEvents waits until the receiver has accepted events satisfying
// done, and returns them all.
func (r *hookReceiver) waitEvents(what string, timeout time.Duration, done func([]api.Event) bool) []api.Event {
	r.t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		evs := make([]api.Event, 0, len(r.events))
		for _, ev := range r.events {
			evs = append(evs, ev)
		}
		r.mu.Unlock()
		if done(evs) {
			return evs
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("the receiver did not get %s within %v; it has %d events", what, timeout, len(evs))
		}
	}
}

// taskAdded returns a done func of waitEvents: a task.added event for
// each of ids.
func taskAdded(t *testing.T, ids ...string) func([]api.Event) bool {
	return func(evs []api.Event) bool {
		seen := map[string]bool{}
		for _, ev := range evs {
			if ev.Name == api.EventTaskAdded {
				var d struct {
					TaskID string `json:"task_id"`
				}
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					t.Errorf("task.added data %s: %v", ev.Data, err)
				}
				seen[d.TaskID] = true
			}
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	}
}

func addWebhook(t *testing.T, c *client.Client, p api.WebhookAddParams) api.WebhookAddResult {
	t.Helper()
	res, err := c.AddWebhook(ctxT(t, 10*time.Second), p)
	if err != nil {
		t.Fatalf("webhook.add %+v: %v", p, err)
	}
	return res
}

// waitDeliveries waits until webhook id's deliveries satisfy cond.
func waitDeliveries(t *testing.T, c *client.Client, id, what string, timeout time.Duration, cond func([]api.WebhookDelivery) bool) []api.WebhookDelivery {
	t.Helper()
	var ds []api.WebhookDelivery
	waitUntilAPI(t, what, timeout, func() bool {
		var err error
		if ds, err = c.WebhookDeliveries(ctxT(t, 10*time.Second), id); err != nil {
			t.Fatalf("webhook.deliveries: %v", err)
		}
		return cond(ds)
	})
	return ds
}

// addPaused adds a small paused torrent, a fresh one per name, and
// returns its id.
func addPaused(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	tr := enginetest.Generate(t, enginetest.Content{Name: name, Size: 20_000, Seed: uint64(len(name)) + 170})
	mi := enginetest.Parse(t, tr.MetaInfo).WithName(name)
	res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(mi), Paused: true})
	if err != nil {
		t.Fatalf("task.add %s: %v", name, err)
	}
	return res.TaskID
}

// fastRetries makes webhook retries quick, for a test.
func fastRetries(cfg *daemon.Config) {
	cfg.WebhookBackoff = 20 * time.Millisecond
	cfg.WebhookMaxBackoff = 200 * time.Millisecond
}

// A real download, on both cores: the receiver gets task.added and
// task.finished of the task, signed, and nothing it did not ask for.
func TestWebhookDeliversDownloadEvents(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "hooked.bin", Size: 1_000_003, Seed: 171})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	r := newHookReceiver(t, "")
	hook := addWebhook(t, c, api.WebhookAddParams{URL: r.srv.URL + "/lodestone", Events: []string{api.EventTaskAdded, api.EventTaskFinished}})
	if len(hook.Secret) != 64 || hook.URL != r.srv.URL+"/lodestone" || hook.CreatedAt == 0 {
		t.Fatalf("webhook.add = %+v", hook)
	}
	r.setSecret(hook.Secret)

	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	finished := waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	evs := r.waitEvents("task.added and task.finished", 30*time.Second, func(evs []api.Event) bool {
		return taskAdded(t, res.TaskID)(evs) && slices.ContainsFunc(evs, func(ev api.Event) bool { return ev.ID == finished.ID })
	})
	for _, ev := range evs {
		if ev.Name != api.EventTaskAdded && ev.Name != api.EventTaskFinished {
			t.Errorf("received %s, which the webhook did not ask for", ev.Name)
		}
		if ev.ID == finished.ID && string(ev.Data) != string(finished.Data) {
			t.Errorf("task.finished data %s, want %s as the API sent it", ev.Data, finished.Data)
		}
	}
	ds := waitDeliveries(t, c, hook.WebhookID, "both delivered", 10*time.Second, func(ds []api.WebhookDelivery) bool {
		return len(ds) == 2 && ds[0].State == api.DeliveryDelivered && ds[1].State == api.DeliveryDelivered
	})
	if ds[0].EventID != finished.ID || ds[0].Event != api.EventTaskFinished || ds[0].Status != http.StatusOK || ds[0].Attempts != 1 {
		t.Errorf("newest delivery %+v, want task.finished %s delivered at the first attempt", ds[0], finished.ID)
	}
	hooks, err := c.Webhooks(ctxT(t, 10*time.Second))
	if err != nil || len(hooks) != 1 || hooks[0].WebhookID != hook.WebhookID || hooks[0].LastStatus != http.StatusOK {
		t.Fatalf("webhook.list = %+v, %v", hooks, err)
	}
}

// The endpoint refuses connections, then answers 500, then accepts: every
// event arrives, after retries.
func TestWebhookReceiverDownThenUp(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true, Configure: fastRetries})
	c := d.Client(t)
	addr := downAddr(t)
	hook := addWebhook(t, c, api.WebhookAddParams{URL: "http://" + addr + "/", Events: []string{api.EventTaskAdded}, Secret: "shared secret"})
	var ids []string
	for i := range 4 {
		ids = append(ids, addPaused(t, c, fmt.Sprintf("down-%d.bin", i)))
	}
	waitDeliveries(t, c, hook.WebhookID, "refused attempts", 30*time.Second, func(ds []api.WebhookDelivery) bool {
		if len(ds) != 4 || ds[3].Attempts < 2 {
			return false
		}
		for _, d := range ds {
			if d.Attempts < 1 || d.State != api.DeliveryPending || d.Status != 0 || !strings.Contains(d.Error, "refused") || d.NextAttemptAt == 0 {
				return false
			}
		}
		return true
	})
	hooks, err := c.Webhooks(ctxT(t, 10*time.Second))
	if err != nil || len(hooks) != 1 || hooks[0].Pending != 4 {
		t.Fatalf("webhook.list while down = %+v, %v; want 4 pending", hooks, err)
	}

	r := newHookReceiver(t, addr)
	r.setSecret("shared secret")
	r.mu.Lock()
	r.answer = func(n int) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	}
	r.mu.Unlock()
	r.waitEvents("every task.added", 60*time.Second, taskAdded(t, ids...))
	ds := waitDeliveries(t, c, hook.WebhookID, "all delivered", 30*time.Second, func(ds []api.WebhookDelivery) bool {
		for _, d := range ds {
			if d.State != api.DeliveryDelivered {
				return false
			}
		}
		return len(ds) == 4
	})
	for _, d := range ds {
		// Refused at least once, then two 500s, then 204.
		if d.Attempts < 4 || d.Status != http.StatusNoContent || d.Error != "" {
			t.Errorf("delivery %+v: want more than 3 attempts ending in 204", d)
		}
	}
}

// Deliveries pending at SIGKILL are made after the restart: those queued
// and retried before it, and one added just before the kill.
func TestWebhookSurvivesSIGKILL(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	opts := daemontest.ProcessOptions{Args: []string{"--allow-private-urls"}}
	p := daemontest.StartProcessWith(t, dirs, opts)
	c := daemontest.Dial(t, p.URL)
	addr := downAddr(t)
	hook := addWebhook(t, c, api.WebhookAddParams{URL: "http://" + addr + "/", Events: []string{api.EventTaskAdded}, Secret: "k"})
	var ids []string
	for i := range 3 {
		ids = append(ids, addPaused(t, c, fmt.Sprintf("killed-%d.bin", i)))
	}
	waitDeliveries(t, c, hook.WebhookID, "a refused attempt", 30*time.Second, func(ds []api.WebhookDelivery) bool {
		return len(ds) == 3 && ds[2].Attempts >= 1 && ds[2].State == api.DeliveryPending
	})
	ids = append(ids, addPaused(t, c, "killed-last.bin"))
	p.Kill(t)

	r := newHookReceiver(t, addr)
	r.setSecret("k")
	p = daemontest.StartProcessWith(t, dirs, opts)
	c = daemontest.Dial(t, p.URL)
	r.waitEvents("every task.added after the restart", 60*time.Second, taskAdded(t, ids...))
	waitDeliveries(t, c, hook.WebhookID, "all delivered", 30*time.Second, func(ds []api.WebhookDelivery) bool {
		n := 0
		for _, d := range ds {
			if d.State == api.DeliveryDelivered {
				n++
			}
		}
		return n == 4
	})
}

// An endpoint that does not answer delays neither another webhook nor
// the API: while its handler holds the first event, the other webhook
// receives a later one, added by an API call that returned.
func TestWebhookSlowEndpointIsolated(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	slow := newHookReceiver(t, "")
	slow.hold = make(chan struct{})
	var release sync.Once
	free := func() { release.Do(func() { close(slow.hold) }) }
	t.Cleanup(free) // before the server closes
	fast := newHookReceiver(t, "")
	for _, r := range []*hookReceiver{slow, fast} {
		r.setSecret("k")
		addWebhook(t, c, api.WebhookAddParams{URL: r.srv.URL, Events: []string{api.EventTaskAdded}, Secret: "k"})
	}
	first := addPaused(t, c, "slow-1.bin")
	select {
	case <-slow.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow endpoint was never called")
	}
	// Its handler now holds the first delivery until released.
	second := addPaused(t, c, "slow-2.bin")
	if _, err := c.ListTasks(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	fast.waitEvents("both events while the slow endpoint holds the first", 30*time.Second, taskAdded(t, first, second))
	slow.mu.Lock()
	n := len(slow.events)
	slow.mu.Unlock()
	if n != 0 {
		t.Fatalf("the slow endpoint accepted %d events while held", n)
	}
	free()
	slow.waitEvents("both events once released", 60*time.Second, taskAdded(t, first, second))
}

// Without --allow-private-urls a loopback IP is refused at webhook.add,
// and a name resolving to loopback on the dialled socket: the delivery
// fails at once, saying why. Bad params answer 103, unknown ids 212.
func TestWebhookRefusals(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	r := newHookReceiver(t, "")
	_, port, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	var ae *api.Error
	if _, err := c.AddWebhook(ctxT(t, 10*time.Second), api.WebhookAddParams{URL: r.srv.URL, Events: []string{"*"}}); !asCode(err, &ae, api.CodeInvalidParams) ||
		!strings.Contains(ae.Message, "--allow-private-urls") {
		t.Fatalf("webhook.add of a loopback IP: %v, want 103 naming --allow-private-urls", err)
	}
	hook := addWebhook(t, c, api.WebhookAddParams{URL: "http://localhost:" + port + "/", Events: []string{"*"}})
	id := addPaused(t, c, "private.bin")
	ds := waitDeliveries(t, c, hook.WebhookID, "a failed delivery", 30*time.Second, func(ds []api.WebhookDelivery) bool {
		return len(ds) > 0 && ds[len(ds)-1].State == api.DeliveryFailed
	})
	if d := ds[len(ds)-1]; d.Attempts != 1 || d.Status != 0 || !strings.Contains(d.Error, "not a public address") || d.NextAttemptAt != 0 {
		t.Errorf("delivery %+v: want one refused attempt, failed, saying why", d)
	}
	select {
	case got := <-r.arrived:
		t.Errorf("the loopback receiver was called (delivery %s) for task %s", got, id)
	default:
	}

	for _, p := range []any{
		map[string]any{"url": "http://example.com/"},
		map[string]any{"url": "http://example.com/", "events": []string{}},
		map[string]any{"url": "gopher://example.com/", "events": []string{"*"}},
		map[string]any{"url": "not a url", "events": []string{"*"}},
		map[string]any{"url": "http://example.com/", "events": []string{"task.nope"}},
		map[string]any{"url": "http://example.com/", "events": []string{api.EventTaskProgress}},
		map[string]any{"url": "http://example.com/", "events": "task.added"},
		map[string]any{"url": 7, "events": []string{"*"}},
	} {
		if err := c.Call(ctxT(t, 10*time.Second), api.MethodWebhookAdd, p, nil); !asCode(err, &ae, api.CodeInvalidParams) {
			t.Errorf("webhook.add %v: %v, want 103", p, err)
		}
	}
	for _, m := range []string{api.MethodWebhookRemove, api.MethodWebhookDeliveries} {
		if err := c.Call(ctxT(t, 10*time.Second), m, api.WebhookIDParams{WebhookID: "0123456789abcdef"}, nil); !asCode(err, &ae, api.CodeNoSuchWebhook) {
			t.Errorf("%s of an unknown id: %v, want 212", m, err)
		}
	}
	if err := c.RemoveWebhook(ctxT(t, 10*time.Second), hook.WebhookID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WebhookDeliveries(ctxT(t, 10*time.Second), hook.WebhookID); !asCode(err, &ae, api.CodeNoSuchWebhook) {
		t.Errorf("webhook.deliveries after remove: %v, want 212", err)
	}
	if hooks, err := c.Webhooks(ctxT(t, 10*time.Second)); err != nil || len(hooks) != 0 {
		t.Errorf("webhook.list after remove = %+v, %v", hooks, err)
	}
}
