package engine

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anacrolix/torrent/metainfo"
)

func TestSanitizeName(t *testing.T) {
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
		got := SanitizeName(in)
		if got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafePathsCollisions(t *testing.T) {
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
	got := SafePaths(info)
	want := []string{
		"t/Dup.txt", "t/dup (2).txt", "t/DUP (3).txt",
		"t/f", "t/f (2)/g", "t/f (2)/h",
		"t/d/x", "t/d (2)",
		"t/a_b", "t/a_b (2)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("SafePaths =\n%q\nwant\n%q", got, want)
	}
}

// checkSafe asserts SafePaths' promises on one torrent's paths.
func checkSafe(t *testing.T, paths []string) {
	t.Helper()
	files := map[string]bool{}
	for _, p := range paths {
		if !utf8.ValidString(p) || filepath.IsAbs(p) || p == "" {
			t.Fatalf("path %q: not a valid relative path", p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxComponentBytes || strings.ContainsAny(c, "\\\x00") {
				t.Fatalf("path %q: bad component %q", p, c)
			}
			for _, r := range c {
				if r < 0x20 || r == 0x7f || isBidiControl(r) {
					t.Fatalf("path %q: character %U", p, r)
				}
			}
		}
		if strings.Count(p, "/") >= MaxPathDepth {
			t.Fatalf("path %q: deeper than %d", p, MaxPathDepth)
		}
		k := strings.ToLower(p)
		if files[k] {
			t.Fatalf("path %q: collides with another", p)
		}
		files[k] = true
	}
	for _, p := range paths {
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if files[strings.ToLower(d)] {
				t.Fatalf("path %q: its folder %q is also a file", p, d)
			}
		}
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
		checkSafe(t, SafePaths(info))
	})
}

// hostileTorrent builds a torrent with the given file paths, each file
// holding a few KiB of distinct bytes, and returns it with its contents.
func hostileTorrent(t *testing.T, name string, files []metainfo.FileInfo) ([]byte, [][]byte) {
	t.Helper()
	const pieceLen = 16384
	var all bytes.Buffer
	data := make([][]byte, len(files))
	for i := range files {
		b := bytes.Repeat([]byte{byte(i + 1)}, 3000+i*517)
		files[i].Length = int64(len(b))
		data[i] = b
		all.Write(b)
	}
	var pieces []byte
	for b := all.Bytes(); len(b) > 0; b = b[min(len(b), pieceLen):] {
		h := sha1.Sum(b[:min(len(b), pieceLen)])
		pieces = append(pieces, h[:]...)
	}
	return infoTorrent(t, metainfo.Info{Name: name, PieceLength: pieceLen, Files: files, Pieces: pieces}), data
}

func testEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := New(Config{DownloadDir: dir, StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func waitComplete(t *testing.T, tt *Torrent, size int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for tt.Stats().Completed < size {
		if time.Now().After(deadline) {
			t.Fatalf("completed %d of %d bytes", tt.Stats().Completed, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A torrent whose names try every trick is downloaded over a real
// loopback swarm; every byte lands inside the download dir under the
// sanitised name, and nothing appears anywhere else.
func TestHostilePathsStayInside(t *testing.T) {
	files := []metainfo.FileInfo{
		{Path: []string{".."}},
		{Path: []string{"..", "escape.txt"}},
		{Path: []string{"..", "..", "..", "tmp", "x"}},
		{Path: []string{"/etc", "passwd"}},
		{Path: []string{"a/../../b"}},
		{Path: []string{`..\..\win.ini`}},
		{Path: []string{"C:", "boot.ini"}},
		{Path: []string{"CON"}},
		{Path: []string{"report\u202Etxt.exe"}},
		{Path: []string{"bell\x07\x1b[31m"}},
		{Path: []string{"\xff\xfe"}},
		{Path: []string{""}},
		{Path: []string{"."}},
		{Path: []string{strings.Repeat("L", 300) + ".bin"}},
		{Path: []string{"Same"}},
		{Path: []string{"same"}},
		{Path: []string{"link"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "l", SymlinkPath: []string{"..", "..", "etc", "shadow"}}},
	}
	raw, data := hostileTorrent(t, "../../evil", files)
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatalf("ParseTorrent: %v", err)
	}
	base := t.TempDir()
	seedDir, leechDir := filepath.Join(base, "seed", "in"), filepath.Join(base, "leech", "in")
	seeder, leecher := testEngine(t, seedDir), testEngine(t, leechDir)

	mi, _ := metainfo.Load(bytes.NewReader(raw))
	info, _ := mi.UnmarshalInfo()
	paths := SafePaths(&info)
	checkSafe(t, paths)
	t.Logf("sanitised paths: %q", paths)
	for i, p := range paths {
		full := filepath.Join(seedDir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, data[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := seeder.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, spec.Size)

	lt, err := leecher.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	lt.Start()
	lt.AddPeers([]string{seeder.PeerAddrs()[0].String()})
	waitComplete(t, lt, spec.Size)
	for i, p := range paths {
		got, err := os.ReadFile(filepath.Join(leechDir, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, data[i]) {
			t.Errorf("file %d (%q): %v, %d bytes", i, p, err, len(got))
		}
	}
	// Nothing outside the two download dirs; no symlink anywhere.
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("symlink created: %s", p)
		}
		if !d.IsDir() && !strings.HasPrefix(p, seedDir+"/") && !strings.HasPrefix(p, leechDir+"/") {
			t.Errorf("file outside the download dirs: %s", p)
		}
		return nil
	})
	var fsPaths []string
	for _, f := range lt.FileStats() {
		fsPaths = append(fsPaths, f.Path)
	}
	if !slices.Equal(fsPaths, paths) {
		t.Errorf("FileStats paths %q, want the on-disk %q", fsPaths, paths)
	}
}

// A symlink planted in the download dir where the torrent's folder goes is
// refused: the engine does not open the files, and the link's target stays
// untouched.
func TestPlantedSymlinkRefused(t *testing.T) {
	raw, _ := hostileTorrent(t, "victim", []metainfo.FileInfo{{Path: []string{"authorized_keys"}}})
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dir, target := filepath.Join(base, "dl"), filepath.Join(base, "ssh")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(target, 0o700)
	if err := os.Symlink(target, filepath.Join(dir, "victim")); err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, dir)
	if _, err := e.Add(spec); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Add: %v, want ErrUnsafePath", err)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Fatalf("files written through the planted symlink: %v", ents)
	}
}
