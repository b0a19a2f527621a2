package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// env is a real store and hub in a temp dir; run starts a Manager on
// them, which stop ends (as a daemon's shutdown does).
type env struct {
	t        *testing.T
	dir      string
	st       *store.Store
	hub      *events.Hub
	queueLen int // of the hub's subscribers; 0: the default
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir()}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	st, err := store.Open(e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	e.st, e.hub = st, events.New(st, events.Options{Ephemeral: api.EphemeralEvents, QueueLen: e.queueLen})
}

func (e *env) close() {
	if e.hub != nil {
		e.hub.Close()
		e.st.Close()
		e.hub, e.st = nil, nil
	}
}

type running struct {
	*Manager
	stop func()
}

func (e *env) run(cfg Config) *running {
	e.t.Helper()
	cfg.Store, cfg.Hub = e.st, e.hub
	if cfg.Backoff == 0 {
		cfg.Backoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	var once sync.Once
	r := &running{Manager: m, stop: func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}}
	e.t.Cleanup(r.stop)
	return r
}

func (e *env) publish(name string, data any) api.Event {
	e.t.Helper()
	ev, err := e.hub.Publish(name, data)
	if err != nil {
		e.t.Fatal(err)
	}
	return ev
}

// receiver records the deliveries it accepts, after checking their
// signature; answer (when set) decides the status of each request.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu      sync.Mutex
	got     []api.Event // accepted, in arrival order
	tries   int
	triesOf map[string]int  // by event id
	answer  func(n int) int // n counts the requests for the event, from 1
	// answerEvent, when set, decides instead, knowing the event.
	answerEvent func(ev api.Event, n int) int
	wake        chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, wake: make(chan struct{}, 1)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts := req.Header.Get(api.HeaderWebhookTimestamp)
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		r.t.Errorf("timestamp %q: %v", ts, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if got, want := req.Header.Get(api.HeaderWebhookSignature), Sign(r.secret, n, body); got != want {
		r.t.Errorf("signature %q, want %q", got, want)
	}
	var ev api.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		r.t.Errorf("body %q: %v", body, err)
	}
	if req.Header.Get(api.HeaderWebhookDelivery) != ev.ID || req.Header.Get(api.HeaderWebhookEvent) != ev.Name {
		r.t.Errorf("headers %v for event %s %s", req.Header, ev.ID, ev.Name)
	}
	r.tries++
	if r.triesOf == nil {
		r.triesOf = make(map[string]int)
	}
	r.triesOf[ev.ID]++
	status := http.StatusNoContent
	if r.answerEvent != nil {
		status = r.answerEvent(ev, r.triesOf[ev.ID])
	} else if r.answer != nil {
		status = r.answer(r.triesOf[ev.ID])
	}
	if status/100 == 2 {
		r.got = append(r.got, ev)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	w.WriteHeader(status)
}

// waitFor waits until the receiver has accepted n events and returns them.
func (r *receiver) waitFor(n int) []api.Event {
	r.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		if len(r.got) >= n {
			got := append([]api.Event(nil), r.got...)
			r.mu.Unlock()
			return got
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("the receiver got %d events, want %d", len(r.got), n)
		}
	}
}

func add(t *testing.T, m *Manager, p api.WebhookAddParams) api.WebhookAddResult {
	t.Helper()
	res, err := m.Add(context.Background(), p)
	if err != nil {
		t.Fatalf("add %+v: %v", p, err)
	}
	return res
}

// waitDelivery waits until event seq's delivery to webhook id is in state.
func waitDelivery(t *testing.T, m *Manager, id, eventID, state string) api.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := m.Deliveries(context.Background(), api.WebhookIDParams{WebhookID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Deliveries {
			if d.EventID == eventID && d.State == state {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of event %s is not %s: %+v", eventID, state, res.Deliveries)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliversSignedEnvelope(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	r := newReceiver(t)
	res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL + "/hook", Events: []string{api.EventEngineAlert}})
	if len(res.Secret) != 64 || res.WebhookID == "" {
		t.Fatalf("add answered %+v: want an id and a 32-byte hex secret", res)
	}
	r.mu.Lock()
	r.secret = res.Secret
	r.mu.Unlock()
	e.publish(api.EventTaskAdded, map[string]string{"task_id": "x"}) // not asked for
	ev := e.publish(api.EventEngineAlert, api.EngineAlertData{Level: api.LevelInfo, Message: "hello"})
	got := r.waitFor(1)
	if got[0].ID != ev.ID || got[0].Name != ev.Name || string(got[0].Data) != string(ev.Data) {
		t.Fatalf("received %+v, want %+v", got[0], ev)
	}
	d := waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryDelivered)
	if d.Attempts != 1 || d.Status != http.StatusNoContent || d.LastAttemptAt == 0 || d.NextAttemptAt != 0 {
		t.Fatalf("delivery %+v", d)
	}
	// The list follows the worker's memory, updated just after the store.
	var list api.WebhookListResult
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		list, _ = m.List(context.Background(), struct{}{})
		if len(list.Webhooks) == 1 && list.Webhooks[0].Pending == 0 && list.Webhooks[0].LastStatus == http.StatusNoContent &&
			list.Webhooks[0].LastDeliveryAt > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list %+v", list)
		}
	}
	if b, _ := json.Marshal(list); strings.Contains(string(b), res.Secret) {
		t.Fatal("webhook.list shows the secret")
	}
}

func TestRetriesUntilDelivered(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	r := newReceiver(t)
	r.secret = "s3cret"
	r.answer = func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{"*"}, Secret: "s3cret"})
	var ids []string
	for i := range 5 {
		ids = append(ids, e.publish(api.EventTaskAdded, map[string]int{"n": i}).ID)
	}
	got := r.waitFor(5)
	seen := map[string]bool{}
	for _, ev := range got {
		seen[ev.ID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("event %s never delivered", id)
		}
	}
	for _, id := range ids {
		if d := waitDelivery(t, m.Manager, res.WebhookID, id, api.DeliveryDelivered); d.Attempts != 4 || d.Status != http.StatusOK {
			t.Fatalf("delivery %+v: want 4 attempts (three 500s)", d)
		}
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true, MaxAge: 100 * time.Millisecond})
	r := newReceiver(t)
	r.answer = func(int) int { return http.StatusServiceUnavailable }
	r.secret = "k"
	res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{api.EventTaskAdded}, Secret: "k"})
	ev := e.publish(api.EventTaskAdded, map[string]int{})
	d := waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryFailed)
	if d.Attempts < 2 || d.Status != http.StatusServiceUnavailable || !strings.Contains(d.Error, "gave up") {
		t.Fatalf("failed delivery %+v", d)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	target := newReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	res := add(t, m.Manager, api.WebhookAddParams{URL: redirect.URL, Events: []string{api.EventTaskAdded}})
	ev := e.publish(api.EventTaskAdded, map[string]int{})
	d := waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryPending)
	for d.Attempts < 2 {
		d = waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryPending)
	}
	if d.Status != http.StatusTemporaryRedirect || !strings.Contains(d.Error, "redirects are not followed") {
		t.Fatalf("delivery %+v", d)
	}
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.tries != 0 {
		t.Fatalf("the redirect's target was sent %d requests", target.tries)
	}
}

// A name that resolves to loopback passes webhook.add but is refused on
// the socket dialled: the delivery fails at once, saying why.
func TestPrivateTargetRefused(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{})
	r := newReceiver(t)
	_, port, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	_, err := m.Add(context.Background(), api.WebhookAddParams{URL: r.srv.URL, Events: []string{"*"}})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams || !strings.Contains(ae.Message, "allow-private-urls") {
		t.Fatalf("add of a loopback IP: %v, want 103 naming --allow-private-urls", err)
	}
	res := add(t, m.Manager, api.WebhookAddParams{URL: "http://localhost:" + port + "/", Events: []string{"*"}})
	ev := e.publish(api.EventTaskAdded, map[string]int{})
	d := waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryFailed)
	if d.Attempts != 1 || !strings.Contains(d.Error, "not a public address") {
		t.Fatalf("delivery %+v", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tries != 0 {
		t.Fatalf("the loopback receiver was sent %d requests", r.tries)
	}
}

func TestBadParams(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	for _, p := range []api.WebhookAddParams{
		{URL: "", Events: []string{"*"}},
		{URL: "ftp://example.com/", Events: []string{"*"}},
		{URL: "http:///nohost", Events: []string{"*"}},
		{URL: "http://example.com/" + strings.Repeat("a", maxURLLen), Events: []string{"*"}},
		{URL: "http://example.com/"},
		{URL: "http://example.com/", Events: []string{"task.nope"}},
		{URL: "http://example.com/", Events: []string{api.EventTaskProgress}},
		{URL: "http://example.com/", Events: []string{api.EventSessionStats}},
		{URL: "http://example.com/", Events: []string{"*", api.EventTaskAdded}},
		{URL: "http://example.com/", Events: []string{"*"}, Secret: strings.Repeat("s", maxSecretLen+1)},
	} {
		_, err := m.Add(context.Background(), p)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
			t.Errorf("add %.80v: %v, want 103", p, err)
		}
	}
	for _, call := range []func() error{
		func() error {
			_, err := m.Remove(context.Background(), api.WebhookIDParams{WebhookID: "nope"})
			return err
		},
		func() error {
			_, err := m.Deliveries(context.Background(), api.WebhookIDParams{WebhookID: "nope"})
			return err
		},
	} {
		var ae *api.Error
		if err := call(); !errors.As(err, &ae) || ae.Code != api.CodeNoSuchWebhook {
			t.Errorf("unknown id: %v, want 212", err)
		}
	}
}

// Deliveries pending when the manager stops are made by the next one, and
// so is an event published while none ran (a crash after the event was
// logged, before its delivery was queued).
func TestPendingSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	// A port that refuses connections, below the ephemeral range so that
	// no socket bound to port 0 takes it meanwhile.
	var addr string
	for i := 0; addr == ""; i++ {
		a := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			addr = a
		} else if i == 100 {
			t.Fatal(err)
		}
	}
	m := e.run(Config{AllowPrivate: true})
	res := add(t, m.Manager, api.WebhookAddParams{URL: "http://" + addr + "/", Events: []string{"*"}, Secret: "k"})
	queued := e.publish(api.EventTaskAdded, map[string]int{"n": 1})
	d := waitDelivery(t, m.Manager, res.WebhookID, queued.ID, api.DeliveryPending)
	for d.Attempts == 0 {
		d = waitDelivery(t, m.Manager, res.WebhookID, queued.ID, api.DeliveryPending)
	}
	m.stop()
	unqueued := e.publish(api.EventTaskAdded, map[string]int{"n": 2})
	e.close()
	e.open()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port %s taken meanwhile: %v", addr, err)
	}
	r := &receiver{t: t, secret: "k", wake: make(chan struct{}, 1)}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(r.serve)}}
	srv.Start()
	t.Cleanup(srv.Close)
	m2 := e.run(Config{AllowPrivate: true})
	got := r.waitFor(2)
	ids := map[string]bool{}
	for _, ev := range got {
		ids[ev.ID] = true
	}
	if !ids[queued.ID] || !ids[unqueued.ID] {
		t.Fatalf("after restart the receiver got %v, want %s and %s", ids, queued.ID, unqueued.ID)
	}
	d = waitDelivery(t, m2.Manager, res.WebhookID, queued.ID, api.DeliveryDelivered)
	if d.Attempts < 2 {
		t.Fatalf("delivery %+v: want the failed attempts before the restart counted", d)
	}
}

func TestRemoveDropsOutbox(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	r := newReceiver(t)
	r.answer = func(int) int { return http.StatusInternalServerError }
	r.secret = "k"
	res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{"*"}, Secret: "k"})
	ev := e.publish(api.EventTaskAdded, map[string]int{})
	waitDelivery(t, m.Manager, res.WebhookID, ev.ID, api.DeliveryPending)
	if _, err := m.Remove(context.Background(), api.WebhookIDParams{WebhookID: res.WebhookID}); err != nil {
		t.Fatal(err)
	}
	if out, err := e.st.WebhookOutbox(res.WebhookID); err != nil || len(out) != 0 {
		t.Fatalf("outbox after remove: %v, %v", out, err)
	}
	r.mu.Lock()
	tries := r.tries
	r.mu.Unlock()
	e.publish(api.EventTaskAdded, map[string]int{})
	list, _ := m.List(context.Background(), struct{}{})
	if len(list.Webhooks) != 0 {
		t.Fatalf("list after remove: %+v", list)
	}
	// The worker has ended (Remove waits for it): nothing more is sent.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tries != tries {
		t.Fatalf("%d requests after remove", r.tries-tries)
	}
}

// A feeder whose queue overflows (here: held while 50 events arrive in a
// queue of 4) is cut off by the hub, which never waits for it; it
// subscribes again and replays from the cursors: no event is lost. It is
// held either with a batch in hand, or (after a restart) before its
// replay, which then finds its subscription already cut off.
func TestFeederCatchesUpAfterOverflow(t *testing.T) {
	for _, beforeReplay := range []bool{false, true} {
		t.Run(fmt.Sprintf("beforeReplay=%v", beforeReplay), func(t *testing.T) {
			e := &env{t: t, dir: t.TempDir(), queueLen: 4}
			e.open()
			t.Cleanup(e.close)
			r := newReceiver(t)
			r.secret = "k"
			m := e.run(Config{AllowPrivate: true})
			add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{api.EventTaskAdded}, Secret: "k"})
			if beforeReplay {
				m.stop()
				m = e.hold(Config{AllowPrivate: true})
			} else {
				m.feedMu.Lock()
			}
			dropped := e.hub.Dropped()
			want := map[string]bool{}
			for i := range 50 {
				want[e.publish(api.EventTaskAdded, map[string]int{"n": i}).ID] = true
			}
			if e.hub.Dropped() == dropped {
				m.feedMu.Unlock()
				t.Fatal("the held feeder was not cut off: the test proves nothing")
			}
			m.feedMu.Unlock()
			for _, ev := range r.waitFor(50) {
				delete(want, ev.ID)
			}
			if len(want) != 0 {
				t.Fatalf("events never delivered: %v", want)
			}
		})
	}
}

// hold starts a Manager whose feeder is held, subscribed, before it reads
// the cursors: the caller unlocks its feedMu.
func (e *env) hold(cfg Config) *running {
	e.t.Helper()
	cfg.Store, cfg.Hub = e.st, e.hub
	m, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	m.feedMu.Lock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	for deadline := time.Now().Add(10 * time.Second); !e.hub.Wanted(api.EventTaskAdded); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			m.feedMu.Unlock()
			cancel()
			<-done
			e.t.Fatal("the feeder never subscribed")
		}
	}
	var once sync.Once
	r := &running{Manager: m, stop: func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}}
	e.t.Cleanup(r.stop)
	return r
}

// Without a webhook the feeder holds no subscription: the hub queues
// nothing to it, and it can never be counted among the clients cut off
// for lagging. The first webhook starts it, a removal of the last ends
// it at the next event.
func TestNoSubscriptionWithoutWebhooks(t *testing.T) {
	e := newEnv(t)
	m := e.run(Config{AllowPrivate: true})
	r := newReceiver(t)
	r.secret = "k"
	e.publish(api.EventTaskAdded, map[string]int{})
	if e.hub.Wanted(api.EventTaskAdded) {
		t.Fatal("subscribed with no webhook")
	}
	res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{api.EventTaskAdded}, Secret: "k"})
	waitWanted(t, e.hub, true)
	ev := e.publish(api.EventTaskAdded, map[string]int{"n": 1})
	if got := r.waitFor(1); got[0].ID != ev.ID {
		t.Fatalf("received %+v, want only the event after the webhook was added (%s)", got, ev.ID)
	}
	if _, err := m.Remove(context.Background(), api.WebhookIDParams{WebhookID: res.WebhookID}); err != nil {
		t.Fatal(err)
	}
	e.publish(api.EventTaskAdded, map[string]int{"n": 2})
	waitWanted(t, e.hub, false)
}

func waitWanted(t *testing.T, hub *events.Hub, want bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); hub.Wanted(api.EventTaskAdded) != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hub.Wanted = %v, want %v", !want, want)
		}
	}
}

// A success brings forward the deliveries waiting because the endpoint was
// unavailable (here a 503, with a backoff of an hour), not one it refused
// (a 400), which keeps its backoff.
func TestSuccessWakesOnlyUnavailable(t *testing.T) {
	for _, tc := range []struct {
		status int
		woken  bool
	}{{http.StatusServiceUnavailable, true}, {http.StatusBadRequest, false}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			e := newEnv(t)
			m := e.run(Config{AllowPrivate: true, Backoff: time.Hour, MaxBackoff: time.Hour})
			r := newReceiver(t)
			r.secret = "k"
			r.answerEvent = func(ev api.Event, n int) int {
				if string(ev.Data) == `{"n":1}` && (n == 1 || !tc.woken) {
					return tc.status
				}
				return http.StatusOK
			}
			res := add(t, m.Manager, api.WebhookAddParams{URL: r.srv.URL, Events: []string{api.EventTaskAdded}, Secret: "k"})
			a := e.publish(api.EventTaskAdded, map[string]int{"n": 1})
			for d := waitDelivery(t, m.Manager, res.WebhookID, a.ID, api.DeliveryPending); d.Attempts == 0; {
				d = waitDelivery(t, m.Manager, res.WebhookID, a.ID, api.DeliveryPending)
			}
			b := e.publish(api.EventTaskAdded, map[string]int{"n": 2})
			waitDelivery(t, m.Manager, res.WebhookID, b.ID, api.DeliveryDelivered)
			if tc.woken {
				if d := waitDelivery(t, m.Manager, res.WebhookID, a.ID, api.DeliveryDelivered); d.Attempts != 2 {
					t.Fatalf("delivery %+v, want delivered at the second attempt", d)
				}
				return
			}
			c := e.publish(api.EventTaskAdded, map[string]int{"n": 3})
			waitDelivery(t, m.Manager, res.WebhookID, c.ID, api.DeliveryDelivered)
			if d := waitDelivery(t, m.Manager, res.WebhookID, a.ID, api.DeliveryPending); d.Attempts != 1 || d.Status != tc.status {
				t.Fatalf("refused delivery %+v: want it left to its backoff after one attempt", d)
			}
		})
	}
}
