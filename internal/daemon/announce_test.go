package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Every torrent announces to its tracker by itself, even when many are
// added at one busy moment; nothing else prompts the engine.
//
// On the anacrolix core, such a moment is when its one announce timer
// (anacrolix/torrent v1.62.0) loses wake-ups: a torrent queued while the
// timer's callback is between computing its next wake-up and setting it
// is never announced. The engine's announce watchdog
// (internal/engine/announce.go) finds torrents whose trackers have not
// answered (or failed) within its interval and re-arms the timer. The
// race cannot be forced from outside the engine, so here the watchdog is
// tested only when the burst loses a wake-up; the test logs how often it
// kicked. The native core announces each torrent from its own loop, with
// its own timer: it has no shared timer to lose, and no watchdog.
func TestAnnounceUnaided(t *testing.T) {
	const n = 150
	tr := startRecordingTracker(t, 2*n, nil)

	kc := newKickCounter(t)
	kicks := kc.kicks
	d := daemontest.Start(t, daemontest.Options{Logger: slog.New(kc)})
	c := d.Client(t)

	base := enginetest.Generate(t, enginetest.Content{Name: "announce.bin", Size: 40_000, Seed: 64, Trackers: []string{tr.URL}})
	mi := enginetest.Parse(t, base.MetaInfo)
	added := make(map[string]time.Time, n)
	var mu sync.Mutex
	eachConcurrently(t, n, func(ctx context.Context, i int) error {
		data := base64.StdEncoding.EncodeToString(mi.WithName(fmt.Sprintf("announce-%03d.bin", i)))
		res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data})
		if err != nil {
			return fmt.Errorf("task.add: %w", err)
		}
		mu.Lock()
		added[res.TaskID] = time.Now()
		mu.Unlock()
		return nil
	})

	// Long enough for the watchdog's first kicks (after 5 s, then 10 s,
	// 20 s...) on a loaded machine.
	const timeout = 90 * time.Second
	deadline := time.After(timeout)
	var slowest time.Duration
	for left := maps.Clone(added); len(left) > 0; {
		select {
		case a := <-tr.firsts:
			if at, ok := left[a.ih]; ok {
				slowest = max(slowest, a.at.Sub(at))
				delete(left, a.ih)
			}
		case <-deadline:
			t.Fatalf("%d of %d torrents never announced within %v (announce watchdog kicks: %d)", len(left), n, timeout, kicks.Load())
		}
	}
	t.Logf("%d torrents announced, the slowest %v after its add; announce watchdog kicks: %d", n, slowest.Round(time.Millisecond), kicks.Load())
}

// recordingTracker is an HTTP tracker that answers with no peers, once
// hold is closed (nil: at once). It sends the first announce of each
// info-hash on firsts (dropped when full).
type recordingTracker struct {
	URL    string
	firsts chan firstAnnounce
	hold   <-chan struct{}

	mu   sync.Mutex
	seen map[string]bool // hex info-hashes
}

type firstAnnounce struct {
	ih string // hex
	at time.Time
}

// startRecordingTracker serves a recordingTracker until the test ends;
// firsts has room for n info-hashes.
func startRecordingTracker(t *testing.T, n int, hold <-chan struct{}) *recordingTracker {
	tr := &recordingTracker{firsts: make(chan firstAnnounce, n), hold: hold, seen: map[string]bool{}}
	srv := httptest.NewServer(tr)
	t.Cleanup(srv.Close)
	tr.URL = srv.URL + "/announce"
	return tr
}

func (tr *recordingTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ih := hex.EncodeToString([]byte(r.URL.Query().Get("info_hash")))
	tr.mu.Lock()
	if !tr.seen[ih] {
		tr.seen[ih] = true
		select {
		case tr.firsts <- firstAnnounce{ih, time.Now()}:
		default:
		}
	}
	tr.mu.Unlock()
	if tr.hold != nil {
		select {
		case <-tr.hold:
		case <-r.Context().Done():
			return
		}
	}
	w.Write([]byte("d8:intervali60e5:peers0:e"))
}

// kickCounter counts the anacrolix core's "kicked the tracker announcer"
// records (level Debug, from its announce watchdog), signalling each on
// kicked (dropped when full), and passes on the records next handles.
type kickCounter struct {
	next   slog.Handler
	kicks  *atomic.Int64
	kicked chan struct{}
}

func newKickCounter(t *testing.T) *kickCounter {
	return &kickCounter{
		next:   slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo}),
		kicks:  new(atomic.Int64),
		kicked: make(chan struct{}, 1),
	}
}

func (h *kickCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelDebug
}

func (h *kickCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "kicked the tracker announcer" {
		h.kicks.Add(1)
		select {
		case h.kicked <- struct{}{}:
		default:
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *kickCounter) WithAttrs(as []slog.Attr) slog.Handler {
	return &kickCounter{next: h.next.WithAttrs(as), kicks: h.kicks, kicked: h.kicked}
}

func (h *kickCounter) WithGroup(name string) slog.Handler {
	return &kickCounter{next: h.next.WithGroup(name), kicks: h.kicks, kicked: h.kicked}
}

// The anacrolix core's announce watchdog notices a torrent none of whose
// trackers has answered (or failed) within its interval (5 s), and kicks
// the engine's announcer. Here the tracker holds every announce until the
// kick. A held announce alone would not do: the engine gives up on it
// after 15 s, and the kick may take up to three intervals. But the engine
// announces to one tracker at most two at a time, so of three torrents
// the third waits for the first two to end (15 s) and is silent for far
// longer than that. After the kick the tracker answers, and the torrent
// that waited is announced. What a kick is for, re-arming an announce timer
// that lost its wake-up, cannot be arranged from outside the engine (see
// TestAnnounceUnaided): this shows the watchdog runs in the daemon and
// acts on silence.
func TestAnnounceWatchdogKicks(t *testing.T) {
	if daemontest.Core() != engine.CoreAnacrolix {
		t.Skip("only the anacrolix core has an announce watchdog: the native core announces each torrent from its own loop and timer (internal/engine/native/announce.go), with no shared timer to lose a wake-up")
	}
	hold := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(hold) }) }
	tr := startRecordingTracker(t, 3, hold)
	t.Cleanup(release) // before the tracker's Close, which waits for its requests
	kc := newKickCounter(t)
	d := daemontest.Start(t, daemontest.Options{Logger: slog.New(kc)})
	c := d.Client(t)
	base := enginetest.Generate(t, enginetest.Content{Name: "silent.bin", Size: 40_000, Seed: 65, Trackers: []string{tr.URL}})
	mi := enginetest.Parse(t, base.MetaInfo)
	var ids []string
	for i := range 3 {
		data := base64.StdEncoding.EncodeToString(mi.WithName(fmt.Sprintf("silent-%d.bin", i)))
		res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.TaskID)
	}
	select {
	case <-kc.kicked:
	case <-time.After(30 * time.Second):
		t.Fatal("no announce watchdog kick within 30 s while the tracker was silent")
	}
	release()
	// Every torrent's announce ends: answered now, or given up on if the
	// kick came only as the first two timed out (their retry is a minute
	// away); the third is answered either way.
	waitUntilAPI(t, "every task's tracker contacted, one working", 30*time.Second, func() bool {
		working := 0
		for _, id := range ids {
			trs, err := c.TaskTrackers(ctxT(t, 10*time.Second), id)
			if err != nil {
				t.Fatal(err)
			}
			if len(trs) != 1 || trs[0].Status == "not_contacted" {
				return false
			}
			if trs[0].Status == "working" {
				working++
			}
		}
		return working > 0
	})
	t.Logf("announce watchdog kicks: %d", kc.kicks.Load())
}
