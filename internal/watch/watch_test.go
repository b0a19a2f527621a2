package watch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// tasks is the service's twin: it adds a task per info-hash once, as the
// service does (an add of a known info-hash answers the existing task),
// and counts every call.
type tasks struct {
	mu    sync.Mutex
	calls []api.TaskAddParams
	ids   map[string]bool
	cats  []api.Category
}

func (s *tasks) Add(_ context.Context, p api.TaskAddParams) (api.TaskAddResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, p)
	var spec engine.Spec
	var err error
	switch p.Type {
	case api.TaskTypeTorrent:
		raw, derr := base64.StdEncoding.DecodeString(p.Data)
		if derr != nil {
			return api.TaskAddResult{}, derr
		}
		spec, err = engine.ParseTorrent(raw)
	case api.TaskTypeMagnet:
		spec, err = engine.ParseMagnet(p.Data)
	default:
		err = fmt.Errorf("type %q", p.Type)
	}
	if err != nil {
		return api.TaskAddResult{}, err
	}
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[spec.ID] = true
	return api.TaskAddResult{TaskID: spec.ID}, nil
}

func (s *tasks) Categories() []api.Category {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cats
}

func (s *tasks) added() []api.TaskAddParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.TaskAddParams(nil), s.calls...)
}

// alerts records the events published.
type alerts struct {
	mu   sync.Mutex
	msgs []string
}

func (a *alerts) Publish(name string, data any) (api.Event, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d, ok := data.(api.EngineAlertData); ok && name == api.EventEngineAlert {
		a.msgs = append(a.msgs, d.Level+": "+d.Message)
	}
	return api.Event{Name: name}, nil
}

func (a *alerts) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.msgs...)
}

// fixture is a watcher on a real store, with a watched folder, driven
// scan by scan (no timer).
type fixture struct {
	w      *Watcher
	st     *store.Store
	svc    *tasks
	alerts *alerts
	root   string // the only root
	dir    string // the watched folder, inside root
}

func newFixture(t *testing.T, invalidAfter time.Duration) *fixture {
	t.Helper()
	root := t.TempDir()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, svc: &tasks{}, alerts: &alerts{}, root: root, dir: filepath.Join(root, "watch")}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.open(t, invalidAfter)
	if _, err := f.w.Add(context.Background(), api.WatchAddParams{Path: f.dir}); err != nil {
		t.Fatal(err)
	}
	return f
}

// open (re)creates the watcher on the fixture's store, as a restart does.
func (f *fixture) open(t *testing.T, invalidAfter time.Duration) {
	t.Helper()
	w, err := New(Options{
		Store: f.st, Service: f.svc, Events: f.alerts, Roots: []string{f.root},
		// The scans are called by the test: a nanosecond makes every
		// scan count as "later" for the stability rule.
		Interval: time.Nanosecond, InvalidAfter: invalidAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.w = w
}

func (f *fixture) scan() { f.w.scan(context.Background()) }

// names returns the names in the watched folder.
func (f *fixture) names(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path string, data []byte) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func torrent(t *testing.T, seed uint64) *enginetest.Torrent {
	return enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("t%d.bin", seed), Size: 100_000, Seed: seed})
}

// TestStabilityRule: a file is taken only at a scan that finds it as the
// one before did, not empty; a file that changes between scans, an empty
// file, and hidden or temporary names are never taken.
func TestStabilityRule(t *testing.T) {
	f := newFixture(t, time.Hour)
	tr := torrent(t, 1)
	path := filepath.Join(f.dir, "a.torrent")
	write(t, path, tr.MetaInfo[:10])
	f.scan() // first seen
	for i := 1; i < 4; i++ {
		// Changes at every scan: never taken.
		appendTo(t, path, tr.MetaInfo[10*i:10*i+10])
		f.scan()
	}
	write(t, filepath.Join(f.dir, "empty.torrent"), nil)
	for _, hidden := range []string{".x.torrent", "y.torrent.part", "z.torrent.tmp", "w.torrent.crdownload"} {
		write(t, filepath.Join(f.dir, hidden), tr.MetaInfo)
	}
	f.scan()
	f.scan()
	f.scan()
	if got := f.svc.added(); len(got) != 0 {
		t.Fatalf("%d adds of files being written, empty or hidden: %v", len(got), got)
	}
	// Complete: taken at the second scan that sees it so, as a whole.
	write(t, path, tr.MetaInfo)
	f.scan()
	if got := f.svc.added(); len(got) != 0 {
		t.Fatalf("added at its first look: %v", got)
	}
	f.scan()
	got := f.svc.added()
	if len(got) != 1 || got[0].Data != base64.StdEncoding.EncodeToString(tr.MetaInfo) || got[0].Type != api.TaskTypeTorrent {
		t.Fatalf("adds = %+v, want the whole torrent once", got)
	}
	if _, err := os.Stat(path + SuffixAdded); err != nil {
		t.Fatalf("not renamed: %v (folder: %v)", err, f.names(t))
	}
	for _, name := range []string{"empty.torrent", ".x.torrent", "y.torrent.part", "z.torrent.tmp", "w.torrent.crdownload"} {
		if _, err := os.Stat(filepath.Join(f.dir, name)); err != nil {
			t.Errorf("%s touched: %v", name, err)
		}
	}
	if a := f.alerts.all(); len(a) != 0 {
		t.Errorf("alerts: %v", a)
	}
	if l, _ := f.w.List(context.Background(), struct{}{}); len(l.Watches) != 1 || l.Watches[0].Added != 1 || l.Watches[0].Invalid != 0 {
		t.Errorf("watch.list = %+v, want added 1", l)
	}
}

// TestHalfWrittenRetried: a .torrent whose writer pauses longer than a
// scan is stable but does not parse: it is retried, not renamed invalid,
// and added whole once complete.
func TestHalfWrittenRetried(t *testing.T) {
	f := newFixture(t, time.Hour)
	tr := torrent(t, 2)
	path := filepath.Join(f.dir, "slow.torrent")
	half := len(tr.MetaInfo) / 2
	write(t, path, tr.MetaInfo[:half])
	for range 4 {
		f.scan() // the writer pauses: same size and mtime
	}
	if got := f.svc.added(); len(got) != 0 {
		t.Fatalf("half a torrent added: %v", got)
	}
	if names := f.names(t); len(names) != 1 || names[0] != "slow.torrent" {
		t.Fatalf("folder = %v, want the file left as it is", names)
	}
	appendTo(t, path, tr.MetaInfo[half:])
	f.scan()
	f.scan()
	if got := f.svc.added(); len(got) != 1 || got[0].Data != base64.StdEncoding.EncodeToString(tr.MetaInfo) {
		t.Fatalf("adds = %d, want the whole torrent once", len(got))
	}
	if _, err := os.Stat(path + SuffixAdded); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidAfterUnchanged: a file that does not parse is renamed
// *.invalid, with one alert naming it and why, once it has stayed
// unchanged for InvalidAfter; a .magnet file with some bad lines adds the
// others and alerts each bad line.
func TestInvalidAfterUnchanged(t *testing.T) {
	// Long enough for the first scans to come before it on a loaded
	// machine.
	f := newFixture(t, time.Second)
	bad := filepath.Join(f.dir, "bad.torrent")
	write(t, bad, []byte("d4:infod4:name1:x"))
	tr := torrent(t, 3)
	mixed := filepath.Join(f.dir, "mixed.magnet")
	write(t, mixed, []byte("# two magnets, one bad\n"+tr.Magnet(nil)+"\r\nmagnet:?xt=urn:btih:nothex\n\n"))
	f.scan()
	f.scan()
	if len(f.svc.added()) != 0 || len(f.names(t)) != 2 {
		t.Fatalf("taken before InvalidAfter: adds %v, folder %v", f.svc.added(), f.names(t))
	}
	time.Sleep(time.Second + 10*time.Millisecond)
	f.scan()
	if _, err := os.Stat(bad + SuffixInvalid); err != nil {
		t.Fatalf("bad.torrent not renamed invalid: %v (folder %v)", err, f.names(t))
	}
	if _, err := os.Stat(mixed + SuffixAdded); err != nil {
		t.Fatalf("mixed.magnet not renamed added: %v (folder %v)", err, f.names(t))
	}
	if got := f.svc.added(); len(got) != 1 || got[0].Type != api.TaskTypeMagnet || !strings.Contains(got[0].Data, tr.InfoHash) {
		t.Fatalf("adds = %+v, want the good magnet", got)
	}
	a := f.alerts.all()
	if len(a) != 2 {
		t.Fatalf("alerts = %q, want one for the invalid file and one for the bad line", a)
	}
	var file, line bool
	for _, m := range a {
		file = file || strings.HasPrefix(m, "warning: ") && strings.Contains(m, bad) && strings.Contains(m, "bad torrent") && strings.Contains(m, bad+SuffixInvalid)
		line = line || strings.Contains(m, mixed) && strings.Contains(m, "line 3") && strings.Contains(m, "bad magnet")
	}
	if !file || !line {
		t.Errorf("alerts = %q: want the invalid file named with why, and line 3 of the magnet file", a)
	}
	l, _ := f.w.List(context.Background(), struct{}{})
	if w := l.Watches[0]; w.Added != 1 || w.Invalid != 1 {
		t.Errorf("watch = %+v, want added 1, invalid 1", w)
	}
}

// TestRenameNeverReplaces: the same name dropped again is renamed
// NAME.added.1, never over the first.
func TestRenameNeverReplaces(t *testing.T) {
	f := newFixture(t, time.Hour)
	path := filepath.Join(f.dir, "x.torrent")
	for i := range 3 {
		write(t, path, torrent(t, uint64(10+i)).MetaInfo)
		f.scan()
		f.scan()
	}
	for _, name := range []string{"x.torrent.added", "x.torrent.added.1", "x.torrent.added.2"} {
		if _, err := os.Stat(filepath.Join(f.dir, name)); err != nil {
			t.Errorf("%s: %v (folder %v)", name, err, f.names(t))
		}
	}
	if got := len(f.svc.added()); got != 3 {
		t.Errorf("%d adds, want 3", got)
	}
}

// record writes the store record of a file begun before a "crash".
func record(t *testing.T, st *store.Store, path string, done int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if err := st.PutWatchAdd(store.WatchAdd{Path: path, Size: fi.Size(), ModTime: fi.ModTime(), SHA256: hex.EncodeToString(sum[:]), Done: done}); err != nil {
		t.Fatal(err)
	}
}

// TestRestartNeverAddsTwice: after a crash between the adds and the
// rename, the restarted watcher finds the file's record and adds none of
// the items done (a torrent; the first two lines of a magnet file), adds
// the rest, renames the file and deletes the record. A record of a file
// changed since is ignored, and one of a file gone is dropped at start.
func TestRestartNeverAddsTwice(t *testing.T) {
	f := newFixture(t, time.Hour)
	dir, err := filepath.EvalSymlinks(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	tors := []*enginetest.Torrent{torrent(t, 20), torrent(t, 21), torrent(t, 22), torrent(t, 23)}
	done := filepath.Join(dir, "done.torrent")
	write(t, done, tors[0].MetaInfo)
	record(t, f.st, done, 1)
	magnets := filepath.Join(dir, "three.magnet")
	write(t, magnets, []byte(tors[1].Magnet(nil)+"\n"+tors[2].Magnet(nil)+"\n"+tors[3].Magnet(nil)+"\n"))
	record(t, f.st, magnets, 2)
	changed := filepath.Join(dir, "changed.torrent")
	write(t, changed, tors[1].MetaInfo)
	record(t, f.st, changed, 1)
	write(t, changed, tors[2].MetaInfo) // another file now, under the same name
	gone := filepath.Join(dir, "gone.torrent")
	if err := f.st.PutWatchAdd(store.WatchAdd{Path: gone, Size: 1, Done: 1}); err != nil {
		t.Fatal(err)
	}

	f.open(t, time.Hour)   // the restart
	f.w.dropStaleRecords() // as Run begins
	f.scan()
	f.scan()

	got := f.svc.added()
	if len(got) != 2 {
		t.Fatalf("adds = %+v, want the magnet file's third line and changed.torrent", got)
	}
	var third, other bool
	for _, p := range got {
		third = third || p.Type == api.TaskTypeMagnet && strings.Contains(p.Data, tors[3].InfoHash)
		other = other || p.Type == api.TaskTypeTorrent && p.Data == base64.StdEncoding.EncodeToString(tors[2].MetaInfo)
	}
	if !third || !other {
		t.Fatalf("adds = %+v, want the magnet file's third line and changed.torrent's new content", got)
	}
	for _, p := range []string{done, magnets, changed} {
		if _, err := os.Stat(p + SuffixAdded); err != nil {
			t.Errorf("%s not renamed: %v", p, err)
		}
	}
	recs, err := f.st.WatchAdds()
	if err != nil || len(recs) != 0 {
		t.Errorf("records left: %+v, %v", recs, err)
	}
}

// TestWatchesPersist: watch.add is durable (a new watcher on the store
// lists it, category included), adding it again changes its category,
// and watch.remove is durable too.
func TestWatchesPersist(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.svc.cats = []api.Category{{Name: "films"}}
	ctx := context.Background()
	first, err := f.w.Add(ctx, api.WatchAddParams{Path: f.dir + "/", Category: "films"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Path != f.dir || first.Category != "films" || first.CreatedAt == 0 {
		t.Fatalf("watch.add = %+v", first)
	}
	f.open(t, time.Hour)
	l, _ := f.w.List(ctx, struct{}{})
	if len(l.Watches) != 1 || l.Watches[0].Path != f.dir || l.Watches[0].Category != "films" || l.Watches[0].CreatedAt != first.CreatedAt {
		t.Fatalf("after restart: %+v, want %+v", l.Watches, first)
	}
	if _, err := f.w.Remove(ctx, api.WatchRemoveParams{Path: f.dir}); err != nil {
		t.Fatal(err)
	}
	f.open(t, time.Hour)
	if l, _ := f.w.List(ctx, struct{}{}); len(l.Watches) != 0 {
		t.Fatalf("after remove and restart: %+v", l.Watches)
	}
}

// TestAddRefused: every refusal of watch.add and watch.remove, with its
// code.
func TestAddRefused(t *testing.T) {
	f := newFixture(t, time.Hour)
	outside := t.TempDir()
	link := filepath.Join(f.root, "link")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(f.root, "file")
	write(t, file, []byte("x"))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		p    api.WatchAddParams
		code api.Code
	}{
		{"empty", api.WatchAddParams{}, api.CodeInvalidParams},
		{"relative", api.WatchAddParams{Path: "watch"}, api.CodeInvalidParams},
		{"outside the roots", api.WatchAddParams{Path: outside}, api.CodeInvalidParams},
		{"a symlink leading out", api.WatchAddParams{Path: link}, api.CodeInvalidParams},
		{"missing", api.WatchAddParams{Path: filepath.Join(f.root, "nope")}, api.CodeInvalidParams},
		{"a file", api.WatchAddParams{Path: file}, api.CodeInvalidParams},
		{"an unknown category", api.WatchAddParams{Path: f.dir, Category: "nope"}, api.CodeNoSuchCategory},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.w.Add(ctx, tc.p)
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("err = %v, want code %d", err, tc.code)
			}
		})
	}
	_, err := f.w.Remove(ctx, api.WatchRemoveParams{Path: outside})
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeNoSuchWatch {
		t.Fatalf("remove unknown: %v, want 209", err)
	}
	if l, _ := f.w.List(ctx, struct{}{}); len(l.Watches) != 1 || l.Watches[0].Category != "" {
		t.Fatalf("refusals changed the watches: %+v", l.Watches)
	}
}

// TestFolderGoneAndBack: a watched folder that disappears is alerted once
// and kept; files dropped once it is back are added.
func TestFolderGoneAndBack(t *testing.T) {
	f := newFixture(t, time.Hour)
	if err := os.Remove(f.dir); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.scan()
	}
	a := f.alerts.all()
	if len(a) != 1 || !strings.Contains(a[0], f.dir) {
		t.Fatalf("alerts = %q, want one naming the folder", a)
	}
	l, _ := f.w.List(context.Background(), struct{}{})
	if len(l.Watches) != 1 || l.Watches[0].LastError == "" {
		t.Fatalf("watch = %+v, want it kept with its last_error", l.Watches)
	}
	if err := os.Mkdir(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(f.dir, "back.torrent"), torrent(t, 30).MetaInfo)
	f.scan()
	f.scan()
	if len(f.svc.added()) != 1 {
		t.Fatalf("adds = %d after the folder came back, want 1", len(f.svc.added()))
	}
	if l, _ := f.w.List(context.Background(), struct{}{}); l.Watches[0].LastError != "" {
		t.Errorf("last_error = %q after a clean scan", l.Watches[0].LastError)
	}
}
