package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/fetch"
	"github.com/lodestone-bt/lodestone/internal/metrics"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/store"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// blocklistsKey is the store's setting holding the blocklists set by
// session.set (a JSON array); absent, the --blocklist flags apply.
const blocklistsKey = "blocklists"

// blocklists are the daemon's IP blocklists: the Filter the engine
// consults, the Loader that fills it, and where session.set's choice is
// kept. It implements service.Blocklists.
type blocklists struct {
	filter *blocklist.Filter
	loader *blocklist.Loader
	store  *store.Store
	// hub receives the alerts; set once, after New made it and before
	// any list is loaded.
	hub *events.Hub

	// errMu guards the last failure to load a list, for server.doctor.
	errMu   sync.Mutex
	lastErr string
	errAt   time.Time
}

// lastError returns the last failure to load or refresh a list and when
// it happened ("" if none).
func (b *blocklists) lastError() (string, time.Time) {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.lastErr, b.errAt
}

// newBlocklists makes the filter and its loader; URL lists are fetched
// under --allow-private-urls' SSRF rule, and a list that cannot be
// fetched or refreshed becomes an engine.alert (warning) once hub is
// set. Nothing is loaded yet (see start).
func newBlocklists(cfg Config, st *store.Store, dial netguard.DialFunc, log *slog.Logger) *blocklists {
	b := &blocklists{filter: blocklist.NewFilter(), store: st}
	b.loader = blocklist.NewLoader(b.filter, blocklist.LoaderOptions{
		Fetcher: fetch.New(fetch.Options{
			MaxBytes:     blocklist.MaxDownload,
			Timeout:      2 * time.Minute,
			AllowPrivate: cfg.AllowPrivateURLs,
			UserAgent:    version.UserAgent(),
			Dial:         dial,
		}),
		Refresh: cfg.BlocklistRefresh,
		Logger:  log,
		OnError: func(source string, err error) {
			b.errMu.Lock()
			b.lastErr, b.errAt = fmt.Sprintf("%s: %v", source, err), time.Now()
			b.errMu.Unlock()
			if b.hub == nil {
				return
			}
			if _, perr := b.hub.Publish(api.EventEngineAlert, api.EngineAlertData{
				Level:   api.LevelWarning,
				Message: fmt.Sprintf("blocklist %s could not be loaded; its last good copy (if any) stays in force: %v", source, err),
			}); perr != nil {
				log.Error("publish blocklist alert", "err", perr)
			}
		},
	})
	return b
}

// start loads the lists in force at start: session.set's if it ever
// set them, else the flags'. A file that cannot be read fails the
// start; a URL that cannot be fetched is alerted and tried again at the
// next refresh.
func (b *blocklists) start(ctx context.Context, flags []string) error {
	sources := flags
	raw, err := b.store.Setting(blocklistsKey)
	if err != nil {
		return err
	}
	if raw != nil {
		if err := json.Unmarshal(raw, &sources); err != nil {
			return fmt.Errorf("stored blocklists: %w", err)
		}
	}
	if len(sources) == 0 {
		return nil
	}
	return b.loader.Load(ctx, sources, true)
}

// Sources are the lists in force.
func (b *blocklists) Sources() []string { return b.loader.Sources() }

// Set loads sources, then keeps them for the next start.
func (b *blocklists) Set(ctx context.Context, sources []string) error {
	if sources == nil {
		sources = []string{}
	}
	if err := b.loader.Load(ctx, sources, false); err != nil {
		return err
	}
	raw, err := json.Marshal(sources)
	if err != nil {
		return err
	}
	return b.store.PutSetting(blocklistsKey, raw)
}

// Counts are the rules and skipped lines of the lists in force, and the
// refusals since start.
func (b *blocklists) Counts() (rules, skipped int, refused int64) {
	l := b.filter.List()
	return l.Rules(), l.Skipped(), b.filter.Refused()
}

// metrics is the /metrics source of the counts.
func (b *blocklists) metrics() metrics.BlocklistCounts {
	rules, skipped, refused := b.Counts()
	return metrics.BlocklistCounts{Rules: rules, Skipped: skipped, Refused: refused}
}
