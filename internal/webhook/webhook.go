// Package webhook POSTs the daemon's events to HTTP endpoints that asked
// for them (webhook.add), signed with HMAC-SHA256, at least once.
//
// Durability: each webhook has a durable cursor, the id of the last event
// considered for it, and a durable outbox of the deliveries still to make
// (internal/store, webhooks.go). One feeder goroutine subscribes to the
// event hub while a webhook exists; on start it replays, from the hub's log, the events after the
// lowest cursor, so an event published just before a crash, whose
// delivery was never queued, is found again. It writes each batch of
// matching events to the outboxes together with the new cursors, in one
// transaction. An event id is considered once per webhook, and a delivery
// leaves the outbox only when it was made (a 2xx answer) or given up.
// The hub logs the last store.EventLogCap events: the feeder must fall
// no further behind than that, which it does only if the store stalls.
//
// Only logged events can be delivered: the ephemeral ones (task.progress,
// session.stats) are never replayed, so a webhook cannot ask for them.
//
// Isolation: each webhook has one delivery worker, which makes one
// attempt at a time, so a slow or dead endpoint delays only its own
// deliveries. The feeder never waits for a worker, and the hub never
// waits for the feeder: should its queue overflow, the hub cuts it off
// and it subscribes again, replaying from the cursors.
//
// No command is ever run: a webhook is an HTTP request and nothing else.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Defaults of the Config fields left zero.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = time.Hour
	DefaultMaxAge     = 24 * time.Hour
	DefaultTimeout    = 10 * time.Second
)

// MaxWebhooks bounds how many webhooks may exist: each has a goroutine.
const MaxWebhooks = 64

// HistoryLen is how many deliveries webhook.deliveries shows.
const HistoryLen = store.WebhookHistoryCap

// Store is the durable state the Manager needs; *store.Store implements
// it.
type Store interface {
	Webhooks() ([]store.Webhook, error)
	PutWebhook(store.Webhook) error
	DeleteWebhook(id string) error
	EnqueueWebhooks([]store.WebhookEnqueue) (map[string][]uint64, error)
	WebhookOutbox(id string) ([]store.WebhookDelivery, error)
	WebhookPending(id string, seq uint64) (store.WebhookDelivery, error)
	UpdateWebhookDelivery(id string, d store.WebhookDelivery) error
	WebhookDeliveries(id string, limit int) ([]store.WebhookDelivery, error)
}

// Config configures a Manager.
type Config struct {
	// Store keeps the webhooks, their cursors and outboxes.
	Store Store
	// Hub is the event hub, whose log the feeder replays.
	Hub *events.Hub
	// AllowPrivate lets webhooks target loopback and private addresses
	// (--allow-private-urls); refused by default (SSRF).
	AllowPrivate bool
	// Backoff is the wait after a delivery's first failed attempt; it
	// doubles after each one up to MaxBackoff, with jitter. Attempts go
	// on until MaxAge after the first. Zero: the Default* values.
	Backoff, MaxBackoff, MaxAge time.Duration
	// Timeout bounds one attempt (zero: DefaultTimeout).
	Timeout time.Duration
	// UserAgent is sent with each delivery.
	UserAgent string
	// Dial, if set, makes every connection: a SOCKS5 proxy's (serve
	// --proxy, proxy-only), which resolves host names itself.
	Dial netguard.DialFunc
	// Logger receives the logs (nil: discarded).
	Logger *slog.Logger
}

// Manager owns the webhooks: their API, the feeder and the workers. Its
// methods are safe for concurrent use.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	// feedMu serialises the feeder's batches with Add and Remove, so that
	// a new webhook's cursor and the events considered for it agree:
	// every event above the cursor Add gives it is considered after Add.
	// The cursor fields of the hooks are guarded by it.
	feedMu sync.Mutex

	// mu guards the fields below it and the workers' fields of the hooks.
	mu      sync.Mutex
	hooks   map[string]*hook
	added   chan struct{}   // signalled by Add, for a feeder waiting for a webhook; cap 1
	running context.Context // Run's context while it runs, else nil
	wg      sync.WaitGroup  // the feeder and the workers
}

// hook is one webhook's state in memory.
type hook struct {
	rec    store.Webhook // fixed fields: id, url, events, secret, created
	all    bool          // events ["*"]
	events map[string]bool

	// Guarded by Manager.feedMu.
	cursor  uint64 // the last event considered
	durable uint64 // the last cursor written

	// Guarded by Manager.mu.
	pending    []ref // the outbox, by event id
	lastStatus int
	lastAt     time.Time
	wake       chan struct{} // signalled when pending gains work; cap 1
	stop       context.CancelFunc
	done       chan struct{} // closed when the worker ends; nil if none
}

// ref is a pending delivery in memory: the frame stays in the store.
type ref struct {
	seq    uint64
	next   time.Time
	status int // of its latest attempt (0: none, or no answer)
}

func (h *hook) wants(name string) bool { return h.all || h.events[name] }

// New loads the stored webhooks. Deliveries start with Run.
func New(cfg Config) (*Manager, error) {
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: cfg.Logger, client: newClient(cfg.AllowPrivate, cfg.Timeout, cfg.Dial), hooks: make(map[string]*hook), added: make(chan struct{}, 1)}
	recs, err := cfg.Store.Webhooks()
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		h := newHook(rec)
		out, err := cfg.Store.WebhookOutbox(rec.ID)
		if err != nil {
			return nil, err
		}
		for _, d := range out {
			h.pending = append(h.pending, ref{seq: d.Seq, next: d.NextAttemptAt, status: d.Status})
		}
		m.hooks[rec.ID] = h
	}
	return m, nil
}

func newHook(rec store.Webhook) *hook {
	h := &hook{rec: rec, events: make(map[string]bool), cursor: rec.Cursor, durable: rec.Cursor,
		lastStatus: rec.LastStatus, lastAt: rec.LastAttemptAt, wake: make(chan struct{}, 1)}
	for _, e := range rec.Events {
		if e == api.WebhookAllEvents {
			h.all = true
		}
		h.events[e] = true
	}
	return h
}

// Run delivers until ctx ends, then waits for its goroutines and returns
// nil. It may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.running = ctx
	for _, h := range m.hooks {
		m.startLocked(h)
	}
	m.wg.Add(1)
	m.mu.Unlock()
	go func() {
		defer m.wg.Done()
		m.feed(ctx)
	}()
	<-ctx.Done()
	m.mu.Lock()
	m.running = nil
	m.mu.Unlock()
	m.wg.Wait()
	m.flushCursors()
	m.client.CloseIdleConnections()
	return nil
}

// startLocked starts h's worker. m.mu must be held and Run running.
func (m *Manager) startLocked(h *hook) {
	ctx, cancel := context.WithCancel(m.running)
	h.stop, h.done = cancel, make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(h.done)
		m.work(ctx, h)
	}()
}

// loggedFilter passes the events the hub logs: the only ones a webhook
// may take.
func loggedFilter(name string) bool { return !slices.Contains(api.EphemeralEvents, name) }

// feed runs the feeder until ctx ends, subscribing again whenever the hub
// cuts it off. While there is no webhook it holds no subscription, so the
// hub queues nothing to it.
func (m *Manager) feed(ctx context.Context) {
	for {
		m.mu.Lock()
		none := len(m.hooks) == 0
		m.mu.Unlock()
		if none {
			select {
			case <-ctx.Done():
				return
			case <-m.added:
			}
			continue
		}
		err := m.feedOnce(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, events.ErrClosed):
			return
		case errors.Is(err, errNoHooks):
			continue
		}
		m.log.Warn("webhook feeder restarts", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// errNoHooks ends a subscription once the last webhook is removed.
var errNoHooks = errors.New("no webhook")

// feedBatch bounds the events considered in one store transaction.
const feedBatch = 256

// feedOnce subscribes, replays the events after the lowest cursor, and
// considers every event until ctx ends, the subscription does, or no
// webhook is left (errNoHooks).
func (m *Manager) feedOnce(ctx context.Context) error {
	sub := m.cfg.Hub.Subscribe(loggedFilter)
	defer sub.Close()
	m.feedMu.Lock()
	m.mu.Lock()
	var after uint64
	replay := false
	for _, h := range m.hooks {
		if !replay || h.cursor < after {
			after, replay = h.cursor, true
		}
	}
	m.mu.Unlock()
	m.feedMu.Unlock()
	if !replay {
		return errNoHooks
	}
	_, err := m.cfg.Hub.Replay(sub, after)
	switch {
	case errors.Is(err, events.ErrGap):
		m.log.Warn("webhook events lost: the event log no longer holds them", "after", after)
	case err != nil:
		select {
		case <-sub.Done():
			// Replay says ErrClosed for a subscription already cut off:
			// its own Err says whether the hub closed.
			return sub.Err()
		default:
			return err
		}
	}
	var batch [][]byte
	for {
		for len(batch) < feedBatch {
			f, ok := sub.Next()
			if !ok {
				break
			}
			batch = append(batch, f)
		}
		if len(batch) > 0 {
			if err := m.consider(batch); err != nil {
				return err
			}
			batch = batch[:0]
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Done():
			return sub.Err()
		case f := <-sub.C():
			batch = append(batch, f)
		}
	}
}

// cursorFlushEvery is how far a cursor may run ahead of its stored value
// when no event matched: the events in between are considered again
// after a crash, and are skipped again, so this bounds only that work.
const cursorFlushEvery = 1000

// consider puts the batch's events in the outboxes of the webhooks that
// want them, with the webhooks' new cursors, durably, then hands them to
// the workers.
func (m *Manager) consider(batch [][]byte) error {
	type framed struct {
		seq  uint64
		name string
		f    []byte
	}
	m.mu.Lock()
	none := len(m.hooks) == 0
	m.mu.Unlock()
	if none {
		// A webhook added later starts after these events (Add).
		return errNoHooks
	}
	evs := make([]framed, 0, len(batch))
	for _, f := range batch {
		var ev api.Event
		if err := json.Unmarshal(f, &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		seq, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil {
			return fmt.Errorf("event id %q: %w", ev.ID, err)
		}
		evs = append(evs, framed{seq, ev.Name, f})
	}
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.mu.Lock()
	hooks := make([]*hook, 0, len(m.hooks))
	for _, h := range m.hooks {
		hooks = append(hooks, h)
	}
	m.mu.Unlock()
	now := time.Now()
	var qs []store.WebhookEnqueue
	for _, h := range hooks {
		q := store.WebhookEnqueue{ID: h.rec.ID, Cursor: h.cursor}
		for _, ev := range evs {
			if ev.seq <= h.cursor {
				continue
			}
			q.Cursor = ev.seq
			if h.wants(ev.name) {
				q.Deliveries = append(q.Deliveries, store.WebhookDelivery{
					Seq: ev.seq, Event: ev.name, State: api.DeliveryPending, NextAttemptAt: now, Frame: ev.f,
				})
			}
		}
		h.cursor = q.Cursor
		if len(q.Deliveries) > 0 || q.Cursor-h.durable >= cursorFlushEvery {
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return nil
	}
	dropped, err := m.cfg.Store.EnqueueWebhooks(qs)
	if err != nil {
		// Considered again from the stored cursors.
		for _, h := range hooks {
			h.cursor = h.durable
		}
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range qs {
		h := m.hooks[q.ID]
		if h == nil {
			continue
		}
		h.durable = q.Cursor
		for _, d := range q.Deliveries {
			if n := len(h.pending); n == 0 || h.pending[n-1].seq < d.Seq {
				h.pending = append(h.pending, ref{seq: d.Seq, next: now})
			}
		}
		if gone := dropped[q.ID]; len(gone) > 0 {
			h.pending = slices.DeleteFunc(h.pending, func(r ref) bool { return slices.Contains(gone, r.seq) })
			m.log.Warn("webhook outbox full: oldest deliveries given up", "webhook", q.ID, "count", len(gone))
		}
		if len(q.Deliveries) > 0 {
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// flushCursors stores the cursors that ran ahead of their stored value,
// at the end of Run.
func (m *Manager) flushCursors() {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.mu.Lock()
	var qs []store.WebhookEnqueue
	for _, h := range m.hooks {
		if h.cursor > h.durable {
			qs = append(qs, store.WebhookEnqueue{ID: h.rec.ID, Cursor: h.cursor})
		}
	}
	m.mu.Unlock()
	if len(qs) == 0 {
		return
	}
	if _, err := m.cfg.Store.EnqueueWebhooks(qs); err != nil {
		m.log.Warn("store webhook cursors", "err", err)
		return
	}
	for _, q := range qs {
		m.mu.Lock()
		h := m.hooks[q.ID]
		m.mu.Unlock()
		if h != nil {
			h.durable = q.Cursor
		}
	}
}

// invalid returns a 103 error.
func invalid(format string, args ...any) error {
	return &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

func noSuchWebhook(id string) error {
	return &api.Error{Code: api.CodeNoSuchWebhook, Message: fmt.Sprintf("no webhook %q", id)}
}

// maxURLLen and maxSecretLen bound what webhook.add stores.
const (
	maxURLLen    = 2048
	maxSecretLen = 1024
)

// check validates webhook.add's params and returns the events as stored.
func (m *Manager) check(p api.WebhookAddParams) ([]string, error) {
	if len(p.URL) > maxURLLen {
		return nil, invalid("url: longer than %d bytes", maxURLLen)
	}
	u, err := fetch.CheckURL(p.URL)
	if err != nil {
		return nil, invalid("url: %v", err)
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil && !m.cfg.AllowPrivate && !netguard.Public(a) {
		return nil, invalid("url: %s is not a public address (the daemon sends webhooks to loopback and private addresses only with --allow-private-urls)", a)
	}
	if len(p.Secret) > maxSecretLen {
		return nil, invalid("secret: longer than %d bytes", maxSecretLen)
	}
	if len(p.Events) == 0 {
		return nil, invalid(`events: name at least one event, or "*" for all`)
	}
	var evs []string
	for _, e := range p.Events {
		switch {
		case e == api.WebhookAllEvents:
			if len(p.Events) > 1 {
				return nil, invalid(`events: "*" stands alone`)
			}
		case slices.Contains(api.EphemeralEvents, e):
			return nil, invalid("events: %s is a snapshot that is not logged, so it cannot be delivered at least once; webhooks take logged events only", e)
		case !slices.Contains(api.EventNames, e):
			return nil, invalid("events: unknown event %q", e)
		}
		if !slices.Contains(evs, e) {
			evs = append(evs, e)
		}
	}
	return evs, nil
}

// Add creates a webhook (webhook.add): durable before it returns. It is
// sent the events published after it.
func (m *Manager) Add(_ context.Context, p api.WebhookAddParams) (api.WebhookAddResult, error) {
	evs, err := m.check(p)
	if err != nil {
		return api.WebhookAddResult{}, err
	}
	secret := p.Secret
	if secret == "" {
		secret = randomHex(32)
	}
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.mu.Lock()
	n := len(m.hooks)
	m.mu.Unlock()
	if n >= MaxWebhooks {
		return api.WebhookAddResult{}, invalid("too many webhooks: at most %d", MaxWebhooks)
	}
	cursor, err := m.cfg.Hub.LastID()
	if err != nil {
		return api.WebhookAddResult{}, fmt.Errorf("add webhook: %w", err)
	}
	rec := store.Webhook{
		ID: randomHex(8), URL: p.URL, Events: evs, Secret: secret,
		CreatedAt: time.Now().Truncate(time.Second), Cursor: cursor,
	}
	if err := m.cfg.Store.PutWebhook(rec); err != nil {
		return api.WebhookAddResult{}, err
	}
	h := newHook(rec)
	m.mu.Lock()
	m.hooks[rec.ID] = h
	if m.running != nil {
		m.startLocked(h)
	}
	m.mu.Unlock()
	select {
	case m.added <- struct{}{}:
	default:
	}
	m.log.Info("webhook added", "webhook", rec.ID, "url", rec.URL, "events", rec.Events)
	return api.WebhookAddResult{WebhookID: rec.ID, Secret: secret, URL: rec.URL, Events: evs, CreatedAt: rec.CreatedAt.Unix()}, nil
}

// List returns every webhook (webhook.list), oldest first.
func (m *Manager) List(context.Context, struct{}) (api.WebhookListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := api.WebhookListResult{Webhooks: make([]api.Webhook, 0, len(m.hooks))}
	for _, h := range m.hooks {
		w := api.Webhook{
			WebhookID: h.rec.ID, URL: h.rec.URL, Events: h.rec.Events, CreatedAt: h.rec.CreatedAt.Unix(),
			Pending: len(h.pending), LastStatus: h.lastStatus,
		}
		if !h.lastAt.IsZero() {
			w.LastDeliveryAt = h.lastAt.Unix()
		}
		out.Webhooks = append(out.Webhooks, w)
	}
	sort.Slice(out.Webhooks, func(i, j int) bool {
		a, b := out.Webhooks[i], out.Webhooks[j]
		if a.CreatedAt != b.CreatedAt {
			return a.CreatedAt < b.CreatedAt
		}
		return a.WebhookID < b.WebhookID
	})
	return out, nil
}

// Remove deletes a webhook with its outbox (webhook.remove): nothing more
// is sent to it once it returns.
func (m *Manager) Remove(_ context.Context, p api.WebhookIDParams) (struct{}, error) {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.mu.Lock()
	h := m.hooks[p.WebhookID]
	m.mu.Unlock()
	if h == nil {
		return struct{}{}, noSuchWebhook(p.WebhookID)
	}
	if err := m.cfg.Store.DeleteWebhook(p.WebhookID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return struct{}{}, err
	}
	m.mu.Lock()
	delete(m.hooks, p.WebhookID)
	stop, done := h.stop, h.done
	m.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	m.log.Info("webhook removed", "webhook", p.WebhookID)
	return struct{}{}, nil
}

// Deliveries returns a webhook's latest deliveries (webhook.deliveries),
// newest event first.
func (m *Manager) Deliveries(_ context.Context, p api.WebhookIDParams) (api.WebhookDeliveriesResult, error) {
	m.mu.Lock()
	h := m.hooks[p.WebhookID]
	m.mu.Unlock()
	if h == nil {
		return api.WebhookDeliveriesResult{}, noSuchWebhook(p.WebhookID)
	}
	ds, err := m.cfg.Store.WebhookDeliveries(p.WebhookID, HistoryLen)
	if errors.Is(err, store.ErrNotFound) {
		return api.WebhookDeliveriesResult{}, noSuchWebhook(p.WebhookID)
	}
	if err != nil {
		return api.WebhookDeliveriesResult{}, err
	}
	// A pending delivery's next attempt as the worker has it: a success
	// brings the waiting ones forward without a store write.
	next := make(map[uint64]time.Time)
	m.mu.Lock()
	for _, r := range h.pending {
		next[r.seq] = r.next
	}
	m.mu.Unlock()
	out := api.WebhookDeliveriesResult{Deliveries: make([]api.WebhookDelivery, 0, len(ds))}
	for _, d := range ds {
		wd := api.WebhookDelivery{
			EventID: strconv.FormatUint(d.Seq, 10), Event: d.Event, State: d.State,
			Attempts: d.Attempts, Status: d.Status, Error: d.Error, LastAttemptAt: unix(d.LastAttemptAt),
		}
		if d.State == api.DeliveryPending {
			at := d.NextAttemptAt
			if t, ok := next[d.Seq]; ok {
				at = t
			}
			wd.NextAttemptAt = max(unix(at), 1)
		}
		out.Deliveries = append(out.Deliveries, wd)
	}
	return out, nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
