package blocklist

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/internal/fetch"
)

// MaxDownload caps a list fetched from a URL (compressed size).
const MaxDownload = 64 << 20

// DefaultRefresh is how often URL lists are fetched again.
const DefaultRefresh = 24 * time.Hour

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	// Fetcher gets URL lists; nil makes one with MaxDownload and the
	// SSRF guard on (no loopback or private addresses).
	Fetcher *fetch.Fetcher
	// Refresh is how often URL lists are fetched again (DefaultRefresh
	// when 0).
	Refresh time.Duration
	// Logger receives the loader's logs (default: discarded).
	Logger *slog.Logger
	// OnError, if set, is told of a list that could not be loaded or
	// refreshed (an alert); the last good copy of it stays in force.
	OnError func(source string, err error)
}

// IsURL tells a URL source (http or https) from a file path.
func IsURL(source string) bool {
	return strings.HasPrefix(source, "http://") || strings.HasPrefix(source, "https://")
}

// Loader loads blocklists from files and URLs into a Filter, merged, and
// refreshes the URL ones (Run). Safe for concurrent use.
type Loader struct {
	filter *Filter
	opts   LoaderOptions
	log    *slog.Logger

	mu      sync.Mutex // serialises loads; guards the fields below
	sources []string
	lists   map[string]*List // the last good copy of each source
}

// NewLoader returns a Loader that puts its lists into f.
func NewLoader(f *Filter, opts LoaderOptions) *Loader {
	if opts.Fetcher == nil {
		opts.Fetcher = fetch.New(fetch.Options{MaxBytes: MaxDownload, Timeout: 2 * time.Minute})
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loader{filter: f, opts: opts, log: log, lists: make(map[string]*List)}
}

// CheckSource refuses a source that is neither an http(s) URL nor an
// absolute file path.
func CheckSource(source string) error {
	if IsURL(source) {
		_, err := fetch.CheckURL(source)
		return err
	}
	if !strings.HasPrefix(source, "/") {
		return fmt.Errorf("blocklist %q: neither an http(s) URL nor an absolute path", source)
	}
	return nil
}

// Load reads every source now and puts their merged list in force,
// replacing the sources loaded before. With keepGoing false, any
// failure changes nothing and is returned. With keepGoing true (a
// daemon starting), a URL that cannot be fetched is reported to
// OnError and tried again at the next refresh, the other lists in force
// meanwhile; a file that cannot be read is still an error.
func (l *Loader) Load(ctx context.Context, sources []string, keepGoing bool) error {
	var uniq []string
	for _, s := range sources {
		if err := CheckSource(s); err != nil {
			return err
		}
		if !slices.Contains(uniq, s) {
			uniq = append(uniq, s) // a list named twice counts once
		}
	}
	sources = uniq
	l.mu.Lock()
	defer l.mu.Unlock()
	lists := make(map[string]*List, len(sources))
	var failed []error
	for _, s := range sources {
		list, err := l.read(ctx, s)
		if err != nil {
			if keepGoing && IsURL(s) {
				l.report(s, err)
				lists[s] = l.lists[s] // nil unless known before
				continue
			}
			failed = append(failed, err)
			continue
		}
		lists[s] = list
	}
	if len(failed) > 0 {
		return errors.Join(failed...)
	}
	l.sources = sources
	l.lists = lists
	l.applyLocked()
	return nil
}

// Sources returns the sources loaded.
func (l *Loader) Sources() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sources)
}

// Run refreshes the URL lists every Refresh until ctx ends. A refresh
// that fails keeps that list's last good copy and is reported.
func (l *Loader) Run(ctx context.Context) {
	t := time.NewTicker(l.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			l.Refresh(ctx)
		}
	}
}

// Refresh fetches every URL list again now.
func (l *Loader) Refresh(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := false
	for _, s := range l.sources {
		if !IsURL(s) {
			continue
		}
		list, err := l.read(ctx, s)
		if err != nil {
			if ctx.Err() == nil {
				l.report(s, err)
			}
			continue
		}
		l.lists[s] = list
		changed = true
	}
	if changed {
		l.applyLocked()
	}
}

// applyLocked merges the lists and puts them in force. l.mu held.
func (l *Loader) applyLocked() {
	lists := make([]*List, 0, len(l.lists))
	for _, s := range l.sources {
		lists = append(lists, l.lists[s])
	}
	merged := Merge(lists...)
	l.filter.Set(merged)
	l.log.Info("blocklists in force", "lists", len(l.sources), "rules", merged.Rules(), "ranges", merged.Ranges(), "skipped", merged.Skipped())
}

func (l *Loader) report(source string, err error) {
	l.log.Warn("blocklist not loaded", "source", source, "err", err)
	if l.opts.OnError != nil {
		l.opts.OnError(source, err)
	}
}

// read loads one source.
func (l *Loader) read(ctx context.Context, source string) (*List, error) {
	if IsURL(source) {
		body, err := l.opts.Fetcher.Get(ctx, source)
		if err != nil {
			return nil, fmt.Errorf("blocklist %s: %w", source, err)
		}
		list, err := Parse(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("blocklist %s: %w", source, err)
		}
		return list, nil
	}
	f, err := os.Open(source)
	if err != nil {
		return nil, fmt.Errorf("blocklist: %w", err)
	}
	defer f.Close()
	list, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", source, err)
	}
	return list, nil
}
