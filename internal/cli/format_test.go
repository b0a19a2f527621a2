package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1.0 MiB"}, // would round to 1024.0 KiB
		{3<<20 + 12_345, "3.0 MiB"},
		{700 << 20, "700.0 MiB"},
		{4_509_715_661, "4.2 GiB"},
		{5 << 40, "5.0 TiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := formatRate(1288490); got != "1.2 MiB/s" {
		t.Errorf("formatRate = %q", got)
	}
}

func TestFormatPercentAndBar(t *testing.T) {
	tests := []struct {
		completed, size int64
		pct, bar        string
	}{
		{0, 0, "-", "[----------]"},
		{0, 100, "0.0%", "[----------]"},
		{523, 1000, "52.3%", "[#####-----]"},
		{9999, 10000, "99.9%", "[#########-]"}, // never 100.0% before the end
		{10000, 10000, "100.0%", "[##########]"},
	}
	for _, tt := range tests {
		if got := formatPercent(tt.completed, tt.size); got != tt.pct {
			t.Errorf("formatPercent(%d, %d) = %q, want %q", tt.completed, tt.size, got, tt.pct)
		}
		if got := bar(tt.completed, tt.size, 10); got != tt.bar {
			t.Errorf("bar(%d, %d) = %q, want %q", tt.completed, tt.size, got, tt.bar)
		}
	}
}

func TestFormatETA(t *testing.T) {
	for s, want := range map[int64]string{-1: "-", 0: "0s", 10: "10s", 125: "2m05s", 3600*3 + 7*60: "3h07m", 86400*5 + 3600*4: "5d04h"} {
		if got := formatETA(s); got != want {
			t.Errorf("formatETA(%d) = %q, want %q", s, got, want)
		}
	}
}

func TestTruncateAndSanitize(t *testing.T) {
	if got := truncate("abcdef", 4); got != "abc…" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("äbc", 3); got != "äbc" {
		t.Errorf("truncate = %q", got)
	}
	if got := sanitize("evil\x1b[2Jname\n"); got != "evil\uFFFD[2Jname\uFFFD" {
		t.Errorf("sanitize = %q", got)
	}
	// Bidirectional controls (issue 15, item 14): "\u202egpj.exe" would
	// show as "exe.jpg".
	for _, c := range []rune{0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069} {
		if got := sanitize("a" + string(c) + "gpj.exe"); got != "a\uFFFDgpj.exe" {
			t.Errorf("sanitize(%U) = %q", c, got)
		}
	}
	if got := sanitize("Ünïcödé ✓ 日本"); got != "Ünïcödé ✓ 日本" {
		t.Errorf("sanitize changed plain text: %q", got)
	}
}

func TestMatchTask(t *testing.T) {
	tasks := []api.Task{
		{TaskID: "abc1000000000000000000000000000000000000"},
		{TaskID: "abc2000000000000000000000000000000000000"},
		{TaskID: "def0000000000000000000000000000000000000"},
	}
	tests := []struct {
		prefix string
		want   string // task id, or part of the error
	}{
		{"d", "def0000000000000000000000000000000000000"},
		{"ABC2", "abc2000000000000000000000000000000000000"},
		{" abc1 ", "abc1000000000000000000000000000000000000"},
		{"abc", `task id prefix "abc" is ambiguous: it matches abc1000000000000000000000000000000000000, abc2000000000000000000000000000000000000`},
		{"0", `task_not_found: no task id starts with "0"`},
		{"", "empty task id"},
	}
	for _, tt := range tests {
		got, err := matchTask(tasks, tt.prefix)
		if s := fmt.Sprint(err); err != nil && !strings.Contains(s, tt.want) || err == nil && got.TaskID != tt.want {
			t.Errorf("matchTask(%q) = %q, %v; want %s", tt.prefix, got.TaskID, err, tt.want)
		}
	}
}

// Flags may come before, between and after arguments; "--" ends them.
func TestParseInterleaved(t *testing.T) {
	tests := []struct {
		args       []string
		pos        string
		json, data bool
	}{
		{[]string{"a", "b"}, "[a b]", false, false},
		{[]string{"--json", "a", "--delete-data", "b"}, "[a b]", true, true},
		{[]string{"a", "b", "--json"}, "[a b]", true, false},
		{[]string{"a", "--", "--json", "-x"}, "[a --json -x]", false, false},
	}
	for _, tt := range tests {
		fs := newFlagSet("t")
		js := fs.Bool("json", false, "")
		del := fs.Bool("delete-data", false, "")
		e := &env{stdout: &strings.Builder{}, stderr: &strings.Builder{}}
		pos, err := e.parse(fs, tt.args, "usage\n")
		if err != nil || fmt.Sprint(pos) != tt.pos || *js != tt.json || *del != tt.data {
			t.Errorf("parse(%q) = %q, %v, json=%v delete=%v", tt.args, pos, err, *js, *del)
		}
	}
	fs := newFlagSet("t")
	e := &env{stdout: &strings.Builder{}, stderr: &strings.Builder{}}
	if _, err := e.parse(fs, []string{"a", "-h"}, "usage\n"); err != errHelp {
		t.Errorf("-h after an argument: %v", err)
	}
}

// On a terminal watch redraws its block of lines in place.
func TestWatchRedraw(t *testing.T) {
	var out strings.Builder
	w := &watcher{e: &env{stdout: &out, tty: true}, byID: map[string]*watchRow{}}
	w.add(api.Task{TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "one", State: api.StateDownloading, Size: 1000, ETASeconds: -1})
	w.add(api.Task{TaskID: "fedcba9876543210fedcba9876543210fedcba98", Name: "second", State: api.StateSeeding, Size: 10, Completed: 10})
	w.start()
	ev := api.Event{Name: api.EventTaskProgress, Data: []byte(`{"task_id":"0123456789abcdef0123456789abcdef01234567","state":"downloading","size":1000,"completed":523,"download_rate":1288490,"eta_seconds":10}`)}
	if err := w.apply(ev); err != nil {
		t.Fatal(err)
	}
	want := "\r\x1b[2K01234567  one     [--------------------]    0.0%        0 B/s  eta -       downloading\n" +
		"\r\x1b[2Kfedcba98  second  [####################]  100.0%  finished\n" +
		"\x1b[2A" +
		"\r\x1b[2K01234567  one     [##########----------]   52.3%    1.2 MiB/s  eta 10s     downloading\n" +
		"\r\x1b[2Kfedcba98  second  [####################]  100.0%  finished\n"
	if out.String() != want {
		t.Errorf("terminal output:\n%q\nwant\n%q", out.String(), want)
	}
}
