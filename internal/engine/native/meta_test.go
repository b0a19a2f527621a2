package native

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/safepath"
)

// infoBytes bencodes info, giving it as many (dummy) piece hashes as its
// v1 files' length needs.
func infoBytes(t *testing.T, info metainfo.Info) []byte {
	t.Helper()
	if info.PieceLength == 0 {
		info.PieceLength = 16 << 10
	}
	var total int64
	for f := range info.UpvertedV1Files() {
		total += f.Length
	}
	info.Pieces = make([]byte, 20*((total+info.PieceLength-1)/info.PieceLength))
	tree := info.FileTree
	info.FileTree = metainfo.FileTree{}
	b, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if !tree.IsDir() {
		return b
	}
	// A FileTree marshals itself only through a pointer.
	var dict map[string]bencode.Bytes
	if err := bencode.Unmarshal(b, &dict); err != nil {
		t.Fatal(err)
	}
	if dict["file tree"], err = tree.MarshalBencode(); err != nil {
		t.Fatal(err)
	}
	if b, err = bencode.Marshal(dict); err != nil {
		t.Fatal(err)
	}
	return b
}

// A torrent whose name and paths try every trick lands exactly where the
// engine puts it (safepath.Paths, which engine.SafePaths is) inside the
// download dir: the native core writes every byte there, and nothing
// anywhere else.
func TestParsePathsAsEngine(t *testing.T) {
	pad := metainfo.ExtendedFileAttrs{Attr: "p"}
	cases := []struct {
		name  string
		info  metainfo.Info
		paths []string // where the data files go, pad files left out
	}{
		{"multi-file", metainfo.Info{Name: "../../evil", Files: []metainfo.FileInfo{
			{Path: []string{"..", "x"}, Length: 3000},
			{Path: []string{"a/../../b"}, Length: 1},
			{Path: []string{"CON"}, Length: 517},
			{Path: []string{".pad", "1234"}, Length: 1234, ExtendedFileAttrs: pad},
			{Path: []string{"report\u202Etxt.exe"}, Length: 20000},
			{Path: []string{"\u2067x\u2069.txt"}, Length: 7},
			{Path: []string{"..", "..", "etc", "passwd"}, Length: 10},
			{Path: []string{"/etc", "passwd"}, Length: 11},
			{Path: []string{`..\..\win.ini`}, Length: 12},
			{Path: []string{"C:", "boot.ini"}, Length: 13},
			{Path: []string{"Same"}, Length: 14},
			{Path: []string{"same"}, Length: 15},
			{Path: []string{"."}, Length: 0},
		}}, []string{
			".._.._evil/__/x",
			".._.._evil/a_.._.._b",
			".._.._evil/_CON",
			".._.._evil/report_txt.exe",
			".._.._evil/_x_.txt",
			".._.._evil/__/__/etc/passwd",
			".._.._evil/_etc/passwd",
			".._.._evil/.._.._win.ini",
			".._.._evil/C_/boot.ini",
			".._.._evil/Same",
			".._.._evil/same (2)",
			".._.._evil/_",
		}},
		{"single file named ..", metainfo.Info{Name: "..", Length: 40000}, []string{"__"}},
		{"single file named CON", metainfo.Info{Name: "con.txt", Length: 5}, []string{"_con.txt"}},
		{"single file with bidi", metainfo.Info{Name: "\u202Egpj.exe", Length: 5}, []string{"_gpj.exe"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			engine := slices.DeleteFunc(safepath.Paths(&c.info), func(p string) bool { return p == "" })
			if !slices.Equal(engine, c.paths) {
				t.Fatalf("safepath.Paths = %q, want %q", engine, c.paths)
			}
			base := t.TempDir()
			dir := filepath.Join(base, "dl", "in")
			m, err := ParseInfo(infoBytes(t, c.info), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := safepath.Name(c.info.Name); m.Name != want {
				t.Errorf("Name %q, want %q", m.Name, want)
			}
			var got []string
			for i, f := range m.Files {
				if f.Pad != safepath.IsPad(&c.info.UpvertedFiles()[i]) {
					t.Errorf("file %d: Pad %v", i, f.Pad)
				}
				if !f.Pad {
					got = append(got, f.Path)
				}
			}
			want := make([]string, len(engine))
			for i, p := range engine {
				want[i] = filepath.Join(dir, filepath.FromSlash(p))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("native paths\n%q\nwant the engine's\n%q", got, want)
			}

			// Write every byte through the core's storage: each data file
			// holds its bytes at its path, and nothing else is on disk.
			data := pieceData(int(m.Length), 9)
			s := newStorage(m.Dir, m.Files, nil, false, false)
			if err := s.writeAt(data, 0); err != nil {
				t.Fatal(err)
			}
			if err := errors.Join(s.finish(), s.close()); err != nil {
				t.Fatal(err)
			}
			onDisk := map[string][]byte{}
			var off int64
			for _, f := range m.Files {
				if !f.Pad {
					onDisk[f.Path] = data[off : off+f.Length]
				}
				off += f.Length
			}
			filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, ok := onDisk[p]
				if !ok {
					t.Errorf("unexpected file %s", p)
					return nil
				}
				if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
					t.Errorf("%s: %d bytes, want its %d", p, len(got), len(b))
				}
				delete(onDisk, p)
				return nil
			})
			for p := range onDisk {
				t.Errorf("%s not written", p)
			}
		})
	}
}

// The torrents of every creator the interop tests use (the engine's fuzz
// corpus) are laid out by their v1 file lists, sanitised, pad files kept
// aside: for a hybrid one that is what the engine gets from the v2 file
// tree. A v2-only one is unsupported.
func TestParsePathsCreators(t *testing.T) {
	corpus, err := filepath.Glob("../testdata/fuzz/FuzzParseTorrent/creator-*")
	if err != nil || len(corpus) == 0 {
		t.Fatalf("no creator torrents: %v", err)
	}
	for _, name := range corpus {
		t.Run(filepath.Base(name), func(t *testing.T) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
			src, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
			if !ok || err != nil {
				t.Fatalf("not a []byte corpus entry: %v", err)
			}
			mi, err := metainfo.Load(strings.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			info, err := mi.UnmarshalInfo()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			m, err := ParseTorrent([]byte(src), dir)
			if !info.HasV1() {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("v2-only: %v, want ErrUnsupported", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(dir, safepath.Name(info.BestName()))
			var want []File
			for f := range info.UpvertedV1Files() {
				p := root
				if len(info.Files) != 0 {
					for _, c := range f.BestPath() {
						p = filepath.Join(p, safepath.Name(c))
					}
				}
				if safepath.IsPad(&f) {
					p = ""
				}
				want = append(want, File{Path: p, Length: f.Length, Pad: safepath.IsPad(&f)})
			}
			if !slices.Equal(m.Files, want) {
				t.Errorf("files\n%+v\nwant\n%+v", m.Files, want)
			}
		})
	}
}

// A hybrid torrent whose v1 file list and v2 file tree disagree (lengths,
// names or order) would put bytes where the engine does not: refused.
func TestParseHybridMismatch(t *testing.T) {
	leaf := func(n int64) metainfo.FileTree { return metainfo.FileTree{File: metainfo.FileTreeFile{Length: n}} }
	tree := metainfo.FileTree{Dir: map[string]metainfo.FileTree{"a": leaf(5), "b": leaf(7)}}
	for _, c := range []struct {
		name  string
		files []metainfo.FileInfo
		ok    bool
	}{
		{"same", []metainfo.FileInfo{{Path: []string{"a"}, Length: 5}, {Path: []string{"b"}, Length: 7}}, true},
		{"length", []metainfo.FileInfo{{Path: []string{"a"}, Length: 5}, {Path: []string{"b"}, Length: 8}}, false},
		{"name", []metainfo.FileInfo{{Path: []string{"a"}, Length: 5}, {Path: []string{"c"}, Length: 7}}, false},
		{"order", []metainfo.FileInfo{{Path: []string{"b"}, Length: 7}, {Path: []string{"a"}, Length: 5}}, false},
		{"fewer", []metainfo.FileInfo{{Path: []string{"a"}, Length: 5}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			info := metainfo.Info{Name: "h", MetaVersion: 2, FileTree: tree, Files: c.files}
			_, err := ParseInfo(infoBytes(t, info), t.TempDir(), nil)
			if c.ok && err != nil || !c.ok && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("ParseInfo: %v", err)
			}
		})
	}
}
