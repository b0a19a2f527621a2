package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Each component logs from its own level, the innermost component with a
// level deciding; Set takes effect in loggers made before it.
func TestComponentLevels(t *testing.T) {
	var b bytes.Buffer
	levels := NewLevels(slog.LevelWarn, map[string]slog.Level{"engine": slog.LevelDebug})
	log := slog.New(NewHandler(&b, Options{Levels: levels}))
	engine := log.With(ComponentKey, "engine")
	dht := engine.With(ComponentKey, "dht") // inherits engine's level
	api := log.With(ComponentKey, "api")
	grouped := log.WithGroup("g").With(ComponentKey, "engine") // not a component: in a group

	log.Info("root info")
	engine.Debug("engine debug")
	dht.Debug("dht debug")
	api.Info("api info")
	api.Warn("api warn")
	grouped.Debug("grouped debug")
	levels.Set(slog.LevelInfo, map[string]slog.Level{"dht": slog.LevelError})
	api.Info("api info after")
	engine.Debug("engine debug after")
	dht.Warn("dht warn after")
	dht.Error("dht error after")

	want := []string{"engine debug", "dht debug", "api warn", "api info after", "dht error after"}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		m := regexp.MustCompile(`msg="([^"]*)"`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("line without msg: %q", line)
		}
		got = append(got, m[1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// The journal's mode: no time stamp of our own (the journal stamps each
// line), and each line prefixed with its syslog priority.
func TestJournalMode(t *testing.T) {
	var plain, journal bytes.Buffer
	slog.New(NewHandler(&plain, Options{})).Warn("hello", "k", 1)
	slog.New(NewHandler(&journal, Options{Journal: true})).Warn("hello", "k", 1)
	if !strings.HasPrefix(plain.String(), "time=") {
		t.Errorf("plain text line: %q", plain.String())
	}
	if got := journal.String(); got != "<4>level=WARN msg=hello k=1\n" {
		t.Errorf("journal line: %q", got)
	}
	journal.Reset()
	log := slog.New(NewHandler(&journal, Options{Journal: true, Levels: NewLevels(slog.LevelDebug, nil)}))
	log.Debug("d")
	log.Info("i")
	log.Error("e", "time", "an attribute called time is kept")
	want := "<7>level=DEBUG msg=d\n<6>level=INFO msg=i\n<3>level=ERROR msg=e time=\"an attribute called time is kept\"\n"
	if journal.String() != want {
		t.Errorf("journal lines:\n%s\nwant:\n%s", journal.String(), want)
	}
}

// JSON lines are JSON objects; the format is checked.
func TestJSON(t *testing.T) {
	var b bytes.Buffer
	slog.New(NewHandler(&b, Options{Format: FormatJSON})).With(ComponentKey, "api").Info("hi", "n", 2)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", b.String(), err)
	}
	if m["msg"] != "hi" || m["component"] != "api" || m["time"] == nil {
		t.Errorf("record: %v", m)
	}
	if CheckFormat("xml") == nil || CheckFormat(FormatJSON) != nil {
		t.Error("CheckFormat")
	}
}

// $JOURNAL_STREAM names a stream by device and inode: it matches that
// file and no other.
func TestIsJournal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the journal is Linux's")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := os.Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	stream := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	if !IsJournal(f, stream) {
		t.Errorf("%s is not %s", f.Name(), stream)
	}
	if IsJournal(g, stream) || IsJournal(f, "") || IsJournal(f, "1:2") {
		t.Error("a stream that is not the journal's is")
	}
}

// Components lists every component the daemon's code names, so that
// log_levels accepts each.
func TestComponentsListed(t *testing.T) {
	re := regexp.MustCompile(`"component", "([a-z_-]+)"`)
	found := map[string]string{}
	// The daemon's code: cmd/ and internal/ (not the bench tools).
	walk := func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			found[string(m[1])] = p
		}
		return nil
	}
	for _, dir := range []string{"cmd", "internal"} {
		if err := filepath.WalkDir(filepath.Join("..", "..", dir), walk); err != nil {
			t.Fatal(err)
		}
	}
	if len(found) < 5 {
		t.Fatalf("found only %v: is the walk right?", found)
	}
	for c, where := range found {
		if !slices.Contains(Components(), c) {
			t.Errorf("component %q (%s) is not in Components", c, where)
		}
	}
	for _, c := range Components() {
		if _, ok := found[c]; !ok {
			t.Errorf("Components lists %q, which no code names", c)
		}
	}
}
