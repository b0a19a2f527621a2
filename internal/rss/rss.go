// Package rss polls RSS and Atom feeds and adds the items its download
// rules match as tasks (issue 17). It owns the feeds' schedule, the
// parsing of feed documents, the rules and their matching, and the
// record of what each rule took; the store keeps all of it, and tasks are
// added through the service, so every task.add rule applies.
//
// Durability: an item is claimed for a rule in the store (state "adding",
// with its episode) before task.add is called, and marked "added" (or
// "failed", releasing its episode) after. An item found "adding" at start
// was caught by a stop between the two: it is marked "interrupted" and
// never added again, so a restart never adds an item twice (at most once
// per item and rule). A failed add is retried at later fetches, up to
// maxAttempts times.
package rss

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Limits.
const (
	// MaxFeedBytes caps a feed document.
	MaxFeedBytes = 5 << 20
	// FetchTimeout bounds a feed's fetch.
	FetchTimeout = 30 * time.Second
	// maxAttempts bounds the adds of one item by one rule.
	maxAttempts = 3
	// defaultFetches bounds the fetches running at once.
	defaultFetches = 4
	// maxRuleName bounds a rule's name.
	maxRuleName = 200
)

// Store is what the manager keeps durably (*store.Store).
type Store interface {
	RSSFeeds() ([]store.RSSFeed, error)
	PutRSSFeed(store.RSSFeed) error
	UpdateRSSFeed(id string, fn func(*store.RSSFeed)) error
	PutRSSFetch(id string, fn func(*store.RSSFeed), items []store.RSSItem) error
	RSSItems(id string) ([]store.RSSItem, error)
	DeleteRSSFeed(id string) error
	RSSRules() ([]store.RSSRule, error)
	PutRSSRule(store.RSSRule) error
	DeleteRSSRule(name string) error
	RSSRuleState(name string) (map[string]store.RSSSeen, map[string]bool, error)
	ClaimRSSItem(rule, feedID, guid, show, episode string, now int64, maxAttempts int) (int, error)
	FinishRSSItem(rule, feedID, guid, show, episode, taskID, addErr string, now int64) error
	InterruptRSSAdding(now int64) ([]store.InterruptedRSSItem, error)
}

// Service adds tasks and knows the categories (*service.Service).
type Service interface {
	Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error)
	Categories() []api.Category
}

// Publisher publishes events (*events.Hub).
type Publisher interface {
	Publish(name string, data any) (api.Event, error)
}

// Fetcher fetches a URL's body (*fetch.Fetcher, with the SSRF rules).
type Fetcher interface {
	Get(ctx context.Context, url string) ([]byte, error)
}

// Config configures a Manager. Store, Service, Events and Fetcher are
// required.
type Config struct {
	Store   Store
	Service Service
	Events  Publisher
	Fetcher Fetcher
	Logger  *slog.Logger
	// MaxFetches bounds the feed fetches running at once (default 4).
	MaxFetches int
}

// Manager runs the feeds and rules. Its methods are safe for concurrent
// use. Create it with New, run its schedule with Run, stop it with Close.
type Manager struct {
	cfg Config
	log *slog.Logger
	sem chan struct{} // a token per fetch running
	// wake nudges Run's loop when a feed is added.
	wake chan struct{}
	// ctx ends fetches and adds in flight (those of requests too) at
	// Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the poll goroutines

	// writeMu serializes rss.add and rss.remove, which write the store
	// without holding mu.
	writeMu sync.Mutex
	// mu guards feeds and every feed's fields but lock; never held
	// across I/O.
	mu    sync.Mutex
	feeds map[string]*feed
}

// feed is a feed's record and schedule.
type feed struct {
	rec   store.RSSFeed
	items int
	next  time.Time // when the schedule fetches it next
	// polling is set while a scheduled fetch of it runs.
	polling bool
	// lock serializes the fetches of the feed (the schedule's and
	// rss.refresh's), so its items and seen records change in order.
	lock chan struct{}
}

// New loads the feeds, marks the adds a stop interrupted (with an alert),
// and returns a Manager that fetches every feed as soon as Run starts.
func New(cfg Config) (*Manager, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFetches <= 0 {
		cfg.MaxFetches = defaultFetches
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, log: cfg.Logger,
		sem: make(chan struct{}, cfg.MaxFetches), wake: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel,
		feeds: map[string]*feed{},
	}
	recs, err := cfg.Store.RSSFeeds()
	if err != nil {
		cancel()
		return nil, err
	}
	now := time.Now()
	for _, r := range recs {
		items, err := cfg.Store.RSSItems(r.ID)
		if err != nil {
			cancel()
			return nil, err
		}
		m.feeds[r.ID] = &feed{rec: r, items: len(items), next: now, lock: make(chan struct{}, 1)}
	}
	cut, err := cfg.Store.InterruptRSSAdding(now.Unix())
	if err != nil {
		cancel()
		return nil, err
	}
	for _, c := range cut {
		// The add may or may not have happened: it is not tried again.
		m.alert(api.LevelWarning, fmt.Sprintf("RSS rule %q was adding item %q of feed %s when the daemon stopped; it is not added again: add it by hand if it is missing", c.Rule, c.GUID, c.FeedID))
	}
	return m, nil
}

// Run fetches each feed at its interval (a little jittered, so feeds added
// together spread out), at most MaxFetches at once, until ctx ends or
// Close is called. Every goroutine it starts has ended when it returns.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		var due []string
		wait := time.Hour
		m.mu.Lock()
		for id, f := range m.feeds {
			switch {
			case f.polling:
			case !f.next.After(now):
				f.polling = true
				due = append(due, id)
			default:
				wait = min(wait, f.next.Sub(now))
			}
		}
		m.mu.Unlock()
		for _, id := range due {
			m.wg.Add(1)
			go m.poll(ctx, id)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			m.wg.Wait()
			return nil
		case <-m.wake:
		case <-timer.C:
		}
	}
}

// poll is one scheduled fetch of feed id; it schedules the next.
func (m *Manager) poll(ctx context.Context, id string) {
	defer m.wg.Done()
	_, err := m.refresh(ctx, id)
	if err != nil && ctx.Err() == nil {
		m.log.Debug("rss feed fetch failed", "feed_id", id, "err", err)
	}
	m.mu.Lock()
	if f, ok := m.feeds[id]; ok {
		f.polling = false
		iv := time.Duration(max(f.rec.IntervalS, api.RSSMinInterval)) * time.Second
		f.next = time.Now().Add(iv + mrand.N(iv/20+1))
	}
	m.mu.Unlock()
	m.nudge()
}

func (m *Manager) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Close ends the fetches and adds in flight and stops Run. It may be
// called more than once.
func (m *Manager) Close() error {
	m.cancel()
	return nil
}

// Add is rss.add: it adds the feed (or, for a URL already added, sets its
// interval) and has it fetched at once.
func (m *Manager) Add(_ context.Context, p api.RSSAddParams) (api.RSSFeed, error) {
	u, err := fetch.CheckURL(strings.TrimSpace(p.URL))
	if err != nil {
		return api.RSSFeed{}, invalid("%v", err)
	}
	iv := p.IntervalS
	switch {
	case iv == 0:
		iv = api.RSSDefaultInterval
	case iv < api.RSSMinInterval:
		return api.RSSFeed{}, invalid("interval_s must be at least %d, not %d", api.RSSMinInterval, iv)
	case iv > 7*24*3600:
		return api.RSSFeed{}, invalid("interval_s must be at most %d, not %d", 7*24*3600, iv)
	}
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.mu.Lock()
	var known *feed
	// CreatedAt orders rss.list: strictly increasing, even within a tick
	// of the clock.
	created := time.Now().UnixNano()
	for _, f := range m.feeds {
		if f.rec.URL == u.String() {
			known = f
		}
		created = max(created, f.rec.CreatedAt+1)
	}
	m.mu.Unlock()
	if known != nil {
		setInterval := func(r *store.RSSFeed) { r.IntervalS = iv }
		if err := m.cfg.Store.UpdateRSSFeed(known.rec.ID, setInterval); err != nil {
			return api.RSSFeed{}, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		setInterval(&known.rec)
		if next := time.Now().Add(time.Duration(iv) * time.Second); known.next.After(next) {
			known.next = next
			m.nudge()
		}
		return wireFeed(known), nil
	}
	rec := store.RSSFeed{ID: newID(), URL: u.String(), IntervalS: iv, CreatedAt: created}
	if err := m.cfg.Store.PutRSSFeed(rec); err != nil {
		return api.RSSFeed{}, err
	}
	f := &feed{rec: rec, next: time.Now(), lock: make(chan struct{}, 1)}
	m.mu.Lock()
	m.feeds[rec.ID] = f
	out := wireFeed(f)
	m.mu.Unlock()
	m.nudge()
	return out, nil
}

// List is rss.list, oldest feed first.
func (m *Manager) List(context.Context, struct{}) (api.RSSListResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.RSSFeed, 0, len(m.feeds))
	for _, f := range m.feeds {
		out = append(out, wireFeed(f))
	}
	slices.SortFunc(out, func(a, b api.RSSFeed) int {
		return strings.Compare(m.feeds[a.FeedID].sortKey(), m.feeds[b.FeedID].sortKey())
	})
	return api.RSSListResult{Feeds: out}, nil
}

func (f *feed) sortKey() string { return fmt.Sprintf("%020d/%s", f.rec.CreatedAt, f.rec.ID) }

// Remove is rss.remove: the feed goes with its items and what the rules
// saw of it.
func (m *Manager) Remove(_ context.Context, p api.RSSFeedIDParams) (struct{}, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	if _, err := m.lookup(p.FeedID); err != nil {
		return struct{}{}, err
	}
	if err := m.cfg.Store.DeleteRSSFeed(p.FeedID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return struct{}{}, noFeed(p.FeedID)
		}
		return struct{}{}, err
	}
	m.mu.Lock()
	delete(m.feeds, p.FeedID)
	m.mu.Unlock()
	return struct{}{}, nil
}

// Items is rss.items: the items of the feed's last fetch.
func (m *Manager) Items(_ context.Context, p api.RSSFeedIDParams) (api.RSSItemsResult, error) {
	if _, err := m.lookup(p.FeedID); err != nil {
		return api.RSSItemsResult{}, err
	}
	items, err := m.cfg.Store.RSSItems(p.FeedID)
	if err != nil {
		return api.RSSItemsResult{}, err
	}
	out := make([]api.RSSItem, 0, len(items))
	for _, it := range items {
		out = append(out, wireItem(p.FeedID, it))
	}
	return api.RSSItemsResult{Items: out}, nil
}

// Refresh is rss.refresh: it fetches the feed now, applies the rules, and
// returns the feed after. A failed fetch answers 204.
func (m *Manager) Refresh(ctx context.Context, p api.RSSFeedIDParams) (api.RSSFeed, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()
	f, err := m.refresh(ctx, p.FeedID)
	if err != nil && m.ctx.Err() != nil {
		return f, &api.Error{Code: api.CodeUnavailable, Message: "daemon is shutting down"}
	}
	return f, err
}

func (m *Manager) lookup(id string) (*feed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.feeds[id]
	if !ok {
		return nil, noFeed(id)
	}
	return f, nil
}

func (m *Manager) refresh(ctx context.Context, id string) (api.RSSFeed, error) {
	f, err := m.lookup(id)
	if err != nil {
		return api.RSSFeed{}, err
	}
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return api.RSSFeed{}, ctx.Err()
	}
	defer func() { <-f.lock }()
	m.mu.Lock()
	rec := f.rec
	m.mu.Unlock()

	parsed, err := m.fetch(ctx, rec.URL)
	if err != nil {
		if ctx.Err() != nil {
			return api.RSSFeed{}, ctx.Err()
		}
		return api.RSSFeed{}, m.failed(f, rec, err)
	}
	items := storeItems(parsed.Items)
	title, at := cleanText(parsed.Title), time.Now().Unix()
	fetched := func(r *store.RSSFeed) { r.Title, r.LastFetchAt, r.LastError = title, at, "" }
	if err := m.cfg.Store.PutRSSFetch(id, fetched, items); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.RSSFeed{}, noFeed(id)
		}
		return api.RSSFeed{}, err
	}
	if rec.LastError != "" {
		m.log.Info("rss feed recovered", "feed_id", id, "url", rec.URL)
	}
	m.mu.Lock()
	fetched(&f.rec)
	f.items = len(items)
	out := wireFeed(f)
	m.mu.Unlock()
	m.apply(ctx, id, items)
	return out, nil
}

// fetch fetches and parses a feed document.
func (m *Manager) fetch(ctx context.Context, raw string) (Parsed, error) {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return Parsed{}, ctx.Err()
	}
	body, err := m.cfg.Fetcher.Get(ctx, raw)
	<-m.sem
	if err != nil {
		return Parsed{}, err
	}
	base, _ := url.Parse(raw)
	return Parse(body, base)
}

// failed records a failed fetch; the first of a streak is alerted.
func (m *Manager) failed(f *feed, rec store.RSSFeed, cause error) error {
	// Only fetches change LastError, and they are serialized by f.lock:
	// rec's is the one before this fetch.
	first := rec.LastError == ""
	setError := func(r *store.RSSFeed) { r.LastError = cause.Error() }
	if err := m.cfg.Store.UpdateRSSFeed(rec.ID, setError); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return noFeed(rec.ID)
		}
		m.log.Error("record rss feed error", "feed_id", rec.ID, "err", err)
	} else {
		m.mu.Lock()
		setError(&f.rec)
		m.mu.Unlock()
	}
	if first {
		m.alert(api.LevelWarning, fmt.Sprintf("RSS feed %s failed: %v", rec.URL, cause))
	}
	return &api.Error{Code: api.CodeFetchFailed, Message: fmt.Sprintf("feed %s: %v", rec.URL, cause)}
}

// storeItems turns parsed items into stored ones, with their episodes,
// dropping repeated guids.
func storeItems(parsed []ParsedItem) []store.RSSItem {
	out := make([]store.RSSItem, 0, len(parsed))
	seen := map[string]bool{}
	for _, p := range parsed {
		if p.GUID == "" || seen[p.GUID] {
			continue
		}
		seen[p.GUID] = true
		it := store.RSSItem{GUID: p.GUID, Title: p.Title, Link: p.Link}
		if !p.Published.IsZero() {
			it.PublishedAt = p.Published.Unix()
		}
		if show, ep, ok := Episode(p.Title); ok {
			it.Show, it.Episode = show, ep
		}
		out = append(out, it)
	}
	return out
}

// apply adds the items the enabled rules match, in document order.
func (m *Manager) apply(ctx context.Context, feedID string, items []store.RSSItem) {
	rules, err := m.cfg.Store.RSSRules()
	if err != nil {
		m.log.Error("load rss rules", "err", err)
		return
	}
	for _, r := range rules {
		if !r.Enabled || (len(r.Feeds) > 0 && !slices.Contains(r.Feeds, feedID)) {
			continue
		}
		mt, err := compile(r.Include, r.Exclude)
		if err != nil {
			m.log.Error("rss rule does not compile", "rule", r.Name, "err", err)
			continue
		}
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			if it.Link != "" && mt.match(it.Title) {
				m.take(ctx, r, feedID, it)
			}
		}
	}
}

// take claims the item for rule r and adds it (see the package comment).
func (m *Manager) take(ctx context.Context, r store.RSSRule, feedID string, it store.RSSItem) {
	show, ep := "", ""
	if r.DedupeEpisodes && it.Episode != "" {
		show, ep = it.Show, it.Episode
	}
	attempt, err := m.cfg.Store.ClaimRSSItem(r.Name, feedID, it.GUID, show, ep, time.Now().Unix(), maxAttempts)
	if err != nil {
		m.log.Error("claim rss item", "rule", r.Name, "guid", it.GUID, "err", err)
		return
	}
	if attempt == 0 {
		return
	}
	p := api.TaskAddParams{Type: api.TaskTypeURL, Data: it.Link, Paused: r.Paused, Category: r.Category}
	if hasPrefixFold(it.Link, "magnet:") {
		p.Type = api.TaskTypeMagnet
	}
	res, addErr := m.cfg.Service.Add(ctx, p)
	msg := ""
	if addErr != nil {
		msg = addErr.Error()
	}
	if err := m.cfg.Store.FinishRSSItem(r.Name, feedID, it.GUID, show, ep, res.TaskID, msg, time.Now().Unix()); err != nil {
		m.log.Error("record rss item", "rule", r.Name, "guid", it.GUID, "err", err)
	}
	if addErr != nil {
		// The first failure and the last are alerted, not each retry.
		switch {
		case ctx.Err() != nil:
		case attempt == 1 && maxAttempts > 1:
			m.alert(api.LevelWarning, fmt.Sprintf("RSS rule %q could not add %q (%s): %v; it is tried again at the next fetches, %d times at most", r.Name, it.Title, it.Link, addErr, maxAttempts-1))
		case attempt >= maxAttempts:
			m.alert(api.LevelWarning, fmt.Sprintf("RSS rule %q gave up adding %q (%s) after %d attempts: %v", r.Name, it.Title, it.Link, attempt, addErr))
		default:
			m.log.Warn("rss item not added", "rule", r.Name, "title", it.Title, "attempt", attempt, "err", addErr)
		}
		return
	}
	m.log.Info("rss item added", "rule", r.Name, "feed_id", feedID, "title", it.Title, "task_id", res.TaskID)
	_, err = m.cfg.Events.Publish(api.EventRSSItemAdded, api.RSSItemAddedData{
		FeedID: feedID, Rule: r.Name, GUID: it.GUID, Title: it.Title, Link: it.Link,
		TaskID: res.TaskID, Episode: it.Episode,
	})
	if err != nil {
		m.log.Warn("publish rss.item_added", "err", err)
	}
}

// SetRule is rss.rule.set.
func (m *Manager) SetRule(_ context.Context, p api.RSSRuleSetParams) (api.RSSRule, error) {
	r, err := m.checkRule(p, true)
	if err != nil {
		return api.RSSRule{}, err
	}
	if err := m.cfg.Store.PutRSSRule(r); err != nil {
		return api.RSSRule{}, err
	}
	return wireRule(r), nil
}

// checkRule validates p into a rule; a saved rule needs a name.
func (m *Manager) checkRule(p api.RSSRuleSetParams, saved bool) (store.RSSRule, error) {
	r := store.RSSRule{
		Name: strings.TrimSpace(p.Name), Include: p.Include, Exclude: p.Exclude,
		Category: strings.TrimSpace(p.Category), Paused: p.Paused, DedupeEpisodes: p.DedupeEpisodes,
		Enabled: p.Enabled == nil || *p.Enabled,
	}
	if err := checkRuleName(r.Name); err != nil && (saved || r.Name != "") {
		return r, err
	}
	if strings.TrimSpace(r.Include) == "" {
		return r, invalid("include must be a regular expression, not empty")
	}
	if _, err := compile(r.Include, r.Exclude); err != nil {
		return r, err
	}
	m.mu.Lock()
	for _, id := range p.Feeds {
		if _, ok := m.feeds[id]; !ok {
			m.mu.Unlock()
			return r, noFeed(id)
		}
		if !slices.Contains(r.Feeds, id) {
			r.Feeds = append(r.Feeds, id)
		}
	}
	m.mu.Unlock()
	if r.Category != "" && !slices.ContainsFunc(m.cfg.Service.Categories(), func(c api.Category) bool { return c.Name == r.Category }) {
		return r, &api.Error{Code: api.CodeNoSuchCategory, Message: fmt.Sprintf("no such category %q (create it with category.set)", r.Category)}
	}
	return r, nil
}

func checkRuleName(name string) error {
	switch {
	case name == "":
		return invalid("name must not be empty")
	case len(name) > maxRuleName:
		return invalid("name is longer than %d bytes", maxRuleName)
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalid("name must not hold control characters")
	}
	return nil
}

// Rules is rss.rule.list, by name.
func (m *Manager) Rules(context.Context, struct{}) (api.RSSRuleListResult, error) {
	rules, err := m.cfg.Store.RSSRules()
	if err != nil {
		return api.RSSRuleListResult{}, err
	}
	out := make([]api.RSSRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, wireRule(r))
	}
	return api.RSSRuleListResult{Rules: out}, nil
}

// RemoveRule is rss.rule.remove: the rule goes with what it saw and its
// episodes.
func (m *Manager) RemoveRule(_ context.Context, p api.RSSRuleNameParams) (struct{}, error) {
	if err := m.cfg.Store.DeleteRSSRule(p.Name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return struct{}{}, noRule(p.Name)
		}
		return struct{}{}, err
	}
	return struct{}{}, nil
}

// Preview is rss.preview: the items held that the rule matches, each with
// whether the rule already has it.
func (m *Manager) Preview(_ context.Context, p api.RSSPreviewParams) (api.RSSPreviewResult, error) {
	var r store.RSSRule
	var name string
	raw := strings.TrimSpace(string(p.Rule))
	switch {
	case raw == "" || raw == "null":
		return api.RSSPreviewResult{}, invalid("rule must be a rule's name or a rule object")
	case json.Unmarshal(p.Rule, &name) == nil:
		rules, err := m.cfg.Store.RSSRules()
		if err != nil {
			return api.RSSPreviewResult{}, err
		}
		i := slices.IndexFunc(rules, func(r store.RSSRule) bool { return r.Name == name })
		if i < 0 {
			return api.RSSPreviewResult{}, noRule(name)
		}
		r = rules[i]
	default:
		var rp api.RSSRuleSetParams
		if err := json.Unmarshal(p.Rule, &rp); err != nil {
			return api.RSSPreviewResult{}, invalid("rule must be a rule's name or a rule object: %v", err)
		}
		var err error
		if r, err = m.checkRule(rp, false); err != nil {
			return api.RSSPreviewResult{}, err
		}
	}
	mt, err := compile(r.Include, r.Exclude)
	if err != nil {
		return api.RSSPreviewResult{}, err
	}
	seen, episodes := map[string]store.RSSSeen{}, map[string]bool{}
	if r.Name != "" {
		if seen, episodes, err = m.cfg.Store.RSSRuleState(r.Name); err != nil {
			return api.RSSPreviewResult{}, err
		}
	}
	m.mu.Lock()
	var ids []string
	for id, f := range m.feeds {
		if len(r.Feeds) == 0 || slices.Contains(r.Feeds, id) {
			ids = append(ids, f.sortKey())
		}
	}
	m.mu.Unlock()
	slices.Sort(ids)
	out := []api.RSSPreviewItem{}
	for _, key := range ids {
		id := key[strings.IndexByte(key, '/')+1:]
		items, err := m.cfg.Store.RSSItems(id)
		if err != nil {
			return api.RSSPreviewResult{}, err
		}
		for _, it := range items {
			if it.Link == "" || !mt.match(it.Title) {
				continue
			}
			s, ok := seen[store.RSSSeenKey(id, it.GUID)]
			added := ok && (s.State != store.RSSFailed || s.Attempts >= maxAttempts)
			if r.DedupeEpisodes && it.Episode != "" && episodes[store.RSSEpisodeKey(it.Show, it.Episode)] {
				added = true
			}
			out = append(out, api.RSSPreviewItem{RSSItem: wireItem(id, it), Added: added})
		}
	}
	return api.RSSPreviewResult{Items: out}, nil
}

// matcher is a rule's compiled expressions.
type matcher struct{ include, exclude *regexp.Regexp }

func compile(include, exclude string) (matcher, error) {
	var mt matcher
	var err error
	if mt.include, err = regexp.Compile("(?i)" + include); err != nil {
		return mt, invalid("include: %v", err)
	}
	if exclude != "" {
		if mt.exclude, err = regexp.Compile("(?i)" + exclude); err != nil {
			return mt, invalid("exclude: %v", err)
		}
	}
	return mt, nil
}

func (mt matcher) match(title string) bool {
	return mt.include.MatchString(title) && (mt.exclude == nil || !mt.exclude.MatchString(title))
}

func (m *Manager) alert(level, msg string) {
	m.log.Warn("rss alert", "message", msg)
	if _, err := m.cfg.Events.Publish(api.EventEngineAlert, api.EngineAlertData{Level: level, Message: msg}); err != nil {
		m.log.Warn("publish rss alert", "err", err)
	}
}

func wireFeed(f *feed) api.RSSFeed {
	return api.RSSFeed{
		FeedID: f.rec.ID, URL: f.rec.URL, IntervalS: f.rec.IntervalS, Title: f.rec.Title,
		LastFetchAt: f.rec.LastFetchAt, LastError: f.rec.LastError, Items: f.items,
	}
}

func wireItem(feedID string, it store.RSSItem) api.RSSItem {
	return api.RSSItem{FeedID: feedID, GUID: it.GUID, Title: it.Title, Link: it.Link, PublishedAt: it.PublishedAt, Episode: it.Episode}
}

func wireRule(r store.RSSRule) api.RSSRule {
	feeds := r.Feeds
	if feeds == nil {
		feeds = []string{}
	}
	return api.RSSRule{
		Name: r.Name, Feeds: feeds, Include: r.Include, Exclude: r.Exclude, Category: r.Category,
		Paused: r.Paused, DedupeEpisodes: r.DedupeEpisodes, Enabled: r.Enabled,
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func invalid(format string, args ...any) error {
	return &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}

func noFeed(id string) error {
	return &api.Error{Code: api.CodeNoSuchFeed, Message: fmt.Sprintf("no feed %q", id)}
}

func noRule(name string) error {
	return &api.Error{Code: api.CodeNoSuchRule, Message: fmt.Sprintf("no rule %q", name)}
}
