package engine

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/internal/netguard"
)

// Alert levels.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// Alert is something the engine warns about: a tracker that fails, a storage
// error, a metadata or hash failure.
type Alert struct {
	// TaskID is the info-hash of the torrent concerned, "" for the client.
	TaskID  string
	Level   string
	Message string
}

// alertQueueLen bounds alerts waiting for the daemon.
const alertQueueLen = 256

// alertRepeatWindow suppresses the same alert repeating within it, such as
// a tracker failing on every retry.
const alertRepeatWindow = time.Minute

type alertSink struct {
	c       chan Alert
	dropped atomic.Uint64

	mu   sync.Mutex
	seen map[Alert]time.Time
}

func newAlertSink() *alertSink {
	return &alertSink{c: make(chan Alert, alertQueueLen), seen: make(map[Alert]time.Time)}
}

// push queues a, never blocking: it may run under the engine's lock.
func (s *alertSink) push(a Alert) {
	now := time.Now()
	s.mu.Lock()
	if last, ok := s.seen[a]; ok && now.Sub(last) < alertRepeatWindow {
		s.mu.Unlock()
		return
	}
	if len(s.seen) > 4*alertQueueLen {
		clear(s.seen)
	}
	s.seen[a] = now
	s.mu.Unlock()
	select {
	case s.c <- a:
	default:
		s.dropped.Add(1)
	}
}

// alertHandler passes the engine's log records to the daemon's handler and
// turns the ones worth telling a user about into alerts. The engine reports
// HTTP and UDP tracker failures only as log records ("announced" with an
// err attribute), so this is where they are caught.
type alertHandler struct {
	next  slog.Handler
	attrs []slog.Attr // attributes added with WithAttrs, flattened
	push  func(Alert)
	book  *trackerBook
	// dhtUnresolved is set once the DHT's "nothing resolved" was logged
	// (shared by the handler's copies).
	dhtUnresolved *atomic.Bool
}

func newAlertHandler(next slog.Handler, push func(Alert), book *trackerBook) *alertHandler {
	return &alertHandler{next: next, push: push, book: book, dhtUnresolved: new(atomic.Bool)}
}

func (h *alertHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// Announce results are logged at Debug; we must see them whatever the
	// daemon's level.
	return true
}

func (h *alertHandler) Handle(ctx context.Context, r slog.Record) error {
	if isDHTUnresolved(r) {
		// With no network or DNS, each DHT node (the anacrolix core runs
		// one per address family) logs an error at every bootstrap
		// attempt. It is one condition, expected offline: one warning,
		// once, and no alert.
		if h.dhtUnresolved.Swap(true) || !h.next.Enabled(ctx, slog.LevelWarn) {
			return nil
		}
		w := slog.NewRecord(r.Time, slog.LevelWarn, "DHT: none of its starting nodes resolved (no network or DNS?); it keeps trying quietly", r.PC)
		return h.next.Handle(ctx, w)
	}
	if a, ok := h.alertFor(r); ok {
		h.push(a)
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *alertHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &alertHandler{next: h.next.WithAttrs(as), attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], as...), push: h.push, book: h.book, dhtUnresolved: h.dhtUnresolved}
}

func (h *alertHandler) WithGroup(name string) slog.Handler {
	return &alertHandler{next: h.next.WithGroup(name), attrs: h.attrs, push: h.push, book: h.book, dhtUnresolved: h.dhtUnresolved}
}

// isDHTUnresolved reports whether r is the DHT library's bootstrap
// failure for want of starting nodes (their names did not resolve), as
// either core logs it: the anacrolix core as the message, the native one
// as its "detail".
func isDHTUnresolved(r slog.Record) bool {
	const text = "getting starting nodes: nothing resolved"
	if strings.Contains(r.Message, text) {
		return true
	}
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "detail" && strings.Contains(a.Value.String(), text)
		return !found
	})
	return found
}

// alertFor decides whether r is an alert.
func (h *alertHandler) alertFor(r slog.Record) (Alert, bool) {
	var errVal, url, ih string
	var resp slog.Value
	visit := func(a slog.Attr) {
		switch a.Key {
		case "resp":
			resp = a.Value
		case "err", "error":
			if v := a.Value.Any(); v != nil {
				errVal = fmt.Sprint(v)
			}
		case "url":
			url = a.Value.String()
		case "short infohash", "infohash", "infoHash", "ih":
			ih = infohashString(a.Value.Any())
		}
	}
	for _, a := range h.attrs {
		walkAttr(a, visit)
	}
	r.Attrs(func(a slog.Attr) bool { walkAttr(a, visit); return true })
	// Values come from strangers (a tracker's failure reason, a peer's
	// data): bounded before they reach alerts, task.trackers and the log
	// of events.
	errVal = clipText(errVal)
	if ih == "" {
		// "<info-hash>: error completing metadata: …"
		if p, _, ok := strings.Cut(r.Message, ": "); ok && isHexHash(p) {
			ih = p
		}
	}
	switch {
	case r.Message == "announced":
		h.book.record(ih, url, resp, errVal)
		if errVal == "" {
			return Alert{}, false
		}
		if msg, ok := privateTrackerMessage(url, errVal); ok {
			return Alert{TaskID: ih, Level: LevelWarning, Message: msg}, true
		}
		return Alert{TaskID: ih, Level: LevelWarning, Message: fmt.Sprintf("tracker announce failed: %s: %s", url, errVal)}, true
	case strings.HasPrefix(r.Message, nativeAnnounceFailed) && r.Level >= slog.LevelWarn:
		// The native core's announce failure (native/announce.go).
		if msg, ok := privateTrackerMessage(strings.TrimPrefix(r.Message, nativeAnnounceFailed), errVal); ok {
			return Alert{TaskID: ih, Level: LevelWarning, Message: msg}, true
		}
		return Alert{TaskID: ih, Level: LevelWarning, Message: clipText(r.Message + ": " + errVal)}, true
	case r.Level >= slog.LevelWarn:
		msg := r.Message
		if errVal != "" {
			msg += ": " + errVal
		}
		level := LevelWarning
		if r.Level >= slog.LevelError {
			level = LevelError
		}
		return Alert{TaskID: ih, Level: level, Message: clipText(msg)}, true
	}
	return Alert{}, false
}

// nativeAnnounceFailed starts the native core's log message of a failed
// announce; the tracker's URL follows.
const nativeAnnounceFailed = "tracker announce failed: "

// privateTrackerMessage shortens the alert of a tracker refused by the
// SSRF guard (netguard) to what its reader needs: which tracker, why, and
// the setting that allows it. The engine's own error would repeat the
// whole announce URL with its query (some 400 characters).
func privateTrackerMessage(url, errVal string) (string, bool) {
	marker := netguard.ErrForbidden.Error()
	i := strings.Index(errVal, marker)
	if i < 0 {
		return "", false
	}
	why := strings.TrimPrefix(errVal[i+len(marker):], ": ")
	if why == "" {
		why = "not a public address"
	}
	return fmt.Sprintf("tracker %s refused: %s (trackers on loopback or private addresses need --allow-private-trackers)", url, why), true
}

// MaxAlertText bounds the text of an alert or a tracker error.
const MaxAlertText = 1024

// clipText cuts s to MaxAlertText bytes (at a character boundary), saying how
// long it was.
func clipText(s string) string {
	if len(s) <= MaxAlertText {
		return s
	}
	cut := MaxAlertText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

func isHexHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func walkAttr(a slog.Attr, visit func(slog.Attr)) {
	if a.Value.Kind() == slog.KindGroup {
		for _, ga := range a.Value.Group() {
			walkAttr(ga, visit)
		}
		return
	}
	visit(a)
}

// infohashString renders the engine's info-hash attribute values as hex.
func infohashString(v any) string {
	switch x := v.(type) {
	case [20]byte:
		return hex.EncodeToString(x[:])
	case interface{ HexString() string }:
		return x.HexString()
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}
