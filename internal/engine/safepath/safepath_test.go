package safepath

import (
	"slices"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

func TestName(t *testing.T) {
	long := strings.Repeat("é", 200) + ".mkv" // 404 bytes
	for in, want := range map[string]string{
		"movie.mkv":           "movie.mkv",
		"":                    "_",
		".":                   "_",
		"..":                  "__",
		"...":                 "...",
		"a/b":                 "a_b",
		`a\b`:                 "a_b",
		"/etc":                "_etc",
		"C:":                  "C_",
		"c:boot.ini":          "c_boot.ini",
		"CON":                 "_CON",
		"nul.txt":             "_nul.txt",
		"com1":                "_com1",
		"Lpt9.log":            "_Lpt9.log",
		"console":             "console",
		"evil\u202Egpj.exe":   "evil_gpj.exe",
		"rlm\u200F\u2066x":    "rlm__x",
		"tab\there\x7f\u0085": "tab_here__",
		"nul\x00byte":         "nul_byte",
		"\xff\xfebad":         "\uFFFDbad",
		"日本語.txt":             "日本語.txt",
		long:                  strings.Repeat("é", 125) + ".mkv",
	} {
		got := Name(in)
		if got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPathsCollisions(t *testing.T) {
	info := &metainfo.Info{Name: "t", Files: []metainfo.FileInfo{
		{Path: []string{"Dup.txt"}},
		{Path: []string{"dup.txt"}},
		{Path: []string{"DUP.txt"}},
		{Path: []string{"f"}},
		{Path: []string{"f", "g"}},
		{Path: []string{"f", "h"}},
		{Path: []string{"d", "x"}},
		{Path: []string{"d"}},
		{Path: []string{"a/b"}},
		{Path: []string{"a_b"}},
	}}
	got := Paths(info)
	want := []string{
		"t/Dup.txt", "t/dup (2).txt", "t/DUP (3).txt",
		"t/f", "t/f (2)/g", "t/f (2)/h",
		"t/d/x", "t/d (2)",
		"t/a_b", "t/a_b (2)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Paths =\n%q\nwant\n%q", got, want)
	}
}

// Pad files get "" and take no name from the files around them.
func TestPathsPadFiles(t *testing.T) {
	info := &metainfo.Info{Name: "t", Files: []metainfo.FileInfo{
		{Path: []string{"a"}},
		{Path: []string{".pad", "1"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Path: []string{"a"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "xp"}},
		{Path: []string{"b"}},
	}}
	got := Paths(info)
	if want := []string{"t/a", "", "", "t/b"}; !slices.Equal(got, want) {
		t.Errorf("Paths = %q, want %q", got, want)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name  string
		paths []string
	}{
		{"empty", []string{""}},
		{"absolute", []string{"/etc/passwd"}},
		{"dot-dot", []string{"t/../x"}},
		{"empty component", []string{"t//x"}},
		{"backslash", []string{`t/a\b`}},
		{"control", []string{"t/a\x1bb"}},
		{"bidi", []string{"t/a\u202Eb"}},
		{"invalid UTF-8", []string{"t/\xff"}},
		{"long component", []string{"t/" + strings.Repeat("x", MaxComponentBytes+1)}},
		{"deep", []string{strings.Repeat("d/", MaxPathDepth) + "x"}},
		{"collision", []string{"t/A", "t/a"}},
		{"file as folder", []string{"t/f", "t/F/g"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Check(c.paths); err == nil {
				t.Errorf("Check(%q) passed", c.paths)
			}
		})
	}
	if err := Check([]string{"t/a", "t/b/c", "t/b (2)"}); err != nil {
		t.Errorf("Check of good paths: %v", err)
	}
}

func FuzzSafePaths(f *testing.F) {
	f.Add("name", "a\x00b\x00..\x00c", "A\x00B")
	f.Add("..", "/etc/passwd", "CON\x00nul.txt")
	f.Add("", "\xff\xfe\x00\u202e", "x\x00x\x00x")
	f.Add("-", "f", "f\x00g")
	f.Fuzz(func(t *testing.T, name, p1, p2 string) {
		info := &metainfo.Info{Name: name, Files: []metainfo.FileInfo{
			{Path: strings.Split(p1, "\x00")},
			{Path: strings.Split(p2, "\x00")},
			{Path: strings.Split(p1, "\x00")},
			{Path: append(strings.Split(p2, "\x00"), "z")},
		}}
		if err := Check(Paths(info)); err != nil {
			t.Fatal(err)
		}
	})
}
