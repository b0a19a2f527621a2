// Package logging builds the daemon's slog handler: text or JSON, a level
// per component (the "component" attribute each part's logger carries)
// that can change while the daemon runs, and the systemd journal's
// conventions when standard error is the journal.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Formats are the values of --log-format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// ComponentKey is the attribute naming the part of the daemon a logger
// belongs to (slog.Logger.With(ComponentKey, "engine")).
const ComponentKey = "component"

// Levels are the least levels logged: one for all, and one per component
// that overrides it. Safe for concurrent use; Set takes effect at once in
// every handler built with it.
type Levels struct {
	p atomic.Pointer[levelTable]
}

type levelTable struct {
	all   slog.Level
	comps map[string]slog.Level
}

// NewLevels returns Levels logging all at level all, and each component
// of comps at its own level.
func NewLevels(all slog.Level, comps map[string]slog.Level) *Levels {
	l := &Levels{}
	l.Set(all, comps)
	return l
}

// Set replaces the levels.
func (l *Levels) Set(all slog.Level, comps map[string]slog.Level) {
	l.p.Store(&levelTable{all: all, comps: maps(comps)})
}

// Get returns the levels in force (comps is a copy).
func (l *Levels) Get() (all slog.Level, comps map[string]slog.Level) {
	t := l.p.Load()
	return t.all, maps(t.comps)
}

func maps(m map[string]slog.Level) map[string]slog.Level {
	c := make(map[string]slog.Level, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// enabled reports whether a record at level from a logger of the
// components chain (outermost first) is logged: the innermost component
// with a level of its own decides, else the level for all.
func (l *Levels) enabled(chain []string, level slog.Level) bool {
	t := l.p.Load()
	for i := len(chain) - 1; i >= 0; i-- {
		if min, ok := t.comps[chain[i]]; ok {
			return level >= min
		}
	}
	return level >= t.all
}

// Options configure NewHandler.
type Options struct {
	// Format is FormatText (also when empty) or FormatJSON.
	Format string
	// Levels decide what is logged; nil logs Info and above.
	Levels *Levels
	// Journal writes for the systemd journal: each line starts with its
	// syslog priority ("<6>"), which journald strips and keeps as the
	// entry's priority, and the text format leaves out its time stamp,
	// since the journal stamps every line itself.
	Journal bool
}

// CheckFormat returns an error unless f is a format NewHandler knows.
func CheckFormat(f string) error {
	switch f {
	case "", FormatText, FormatJSON:
		return nil
	}
	return fmt.Errorf("log format %q: want %s or %s", f, FormatText, FormatJSON)
}

// NewHandler returns a handler writing to w as opts say.
func NewHandler(w io.Writer, opts Options) slog.Handler {
	levels := opts.Levels
	if levels == nil {
		levels = NewLevels(slog.LevelInfo, nil)
	}
	out := &output{w: w, journal: opts.Journal, noTime: opts.Journal && opts.Format != FormatJSON}
	// The inner handler logs everything it is given: the levels are
	// checked by componentHandler.Enabled, before a record is built.
	ho := &slog.HandlerOptions{Level: slog.Level(-1 << 10)}
	var inner slog.Handler
	if opts.Format == FormatJSON {
		inner = slog.NewJSONHandler(out, ho)
	} else {
		inner = slog.NewTextHandler(out, ho)
	}
	return &componentHandler{inner: inner, levels: levels, out: out}
}

// output is the writer shared by a handler and those derived from it. In
// journal mode it prefixes each record's line with the record's syslog
// priority, set by Handle under mu just before the inner handler writes
// (the standard handlers write a record in one Write call).
type output struct {
	w       io.Writer
	journal bool
	// noTime: records are written without their time (the handlers
	// leave out a zero time).
	noTime bool
	mu     sync.Mutex
	prio   int // the record being written's; guarded by mu
}

func (o *output) Write(b []byte) (int, error) {
	if !o.journal {
		return o.w.Write(b)
	}
	line := append([]byte(fmt.Sprintf("<%d>", o.prio)), b...)
	if _, err := o.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// priority maps a level to syslog's: error 3, warning 4, info 6, debug 7.
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	}
	return 7
}

// componentHandler checks a record's level against its logger's
// components before the inner handler formats it.
type componentHandler struct {
	inner  slog.Handler
	levels *Levels
	out    *output
	chain  []string // components set with WithAttrs, outermost first
	group  bool     // a group is open: attributes no longer name components
}

func (h *componentHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.levels.enabled(h.chain, l)
}

func (h *componentHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.out.noTime {
		r.Time = time.Time{}
	}
	if !h.out.journal {
		return h.inner.Handle(ctx, r)
	}
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prio = priority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *componentHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.inner = h.inner.WithAttrs(as)
	if !h.group {
		for _, a := range as {
			if a.Key == ComponentKey {
				c.chain = append(slices.Clip(h.chain), a.Value.String())
			}
		}
	}
	return &c
}

func (h *componentHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.inner = h.inner.WithGroup(name)
	c.group = c.group || name != ""
	return &c
}

// Components returns the names the daemon's loggers carry in
// ComponentKey, which per-component levels may name, sorted. A test keeps
// the list in step with the code.
func Components() []string {
	return []string{
		"api", "blocklist", "bus", "dht", "engine", "eventfeed", "keyring", "keys",
		"membership", "natsnode", "network", "qbittorrent", "rpc", "rss",
		"sdnotify", "service", "stream", "tasklist", "transmission", "upnp",
		"utp", "watch", "webhook",
	}
}

// ParseLevel parses a level name: debug, info, warn or error (any case),
// or slog's forms such as "info+2".
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
