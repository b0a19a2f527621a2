package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// Path rules. Whoever made a torrent chose its names; every one of them is
// made safe here before the engine opens a file, so no name can write
// outside the task's download dir or fool a reader of the name.
const (
	// MaxComponentBytes is the longest file or folder name kept (Linux's
	// NAME_MAX); longer ones are cut at a character boundary, keeping a
	// short extension.
	MaxComponentBytes = 255
	// MaxPathDepth is the most folders-plus-file a path keeps; deeper
	// tails are joined into the last component.
	MaxPathDepth = 32
)

// SanitizeName makes one path component safe:
//   - invalid UTF-8 becomes U+FFFD;
//   - control characters (C0, DEL, C1), bidirectional formatting
//     characters (which can make "gpj.exe" read as "exe.jpg") and the
//     separators / and \ become "_";
//   - "", "." and ".." become "_", "_" and "__";
//   - a drive letter ("C:") has its colon replaced, a Windows device name
//     (CON, NUL, COM1, …, with or without an extension) gets a "_" prefix;
//   - more than MaxComponentBytes bytes are cut, keeping the extension.
func SanitizeName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || unicode.IsControl(r) || isBidiControl(r) {
			return '_'
		}
		return r
	}, s)
	switch s {
	case "", ".":
		return "_"
	case "..":
		return "__"
	}
	if len(s) >= 2 && s[1] == ':' && isASCIILetter(s[0]) {
		s = s[:1] + "_" + s[2:]
	}
	if isWindowsDevice(s) {
		s = "_" + s
	}
	return truncateName(s, MaxComponentBytes)
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isBidiControl reports the Unicode bidirectional formatting characters.
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061C, r == 0x200E, r == 0x200F:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// isWindowsDevice reports names Windows reserves for devices, whatever the
// extension: such a file cannot be opened on Windows (a shared folder, a
// USB disk moved over).
func isWindowsDevice(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		return base[3] >= '0' && base[3] <= '9'
	}
	return false
}

// maxExtBytes is the longest extension kept when a name is cut or renamed.
const maxExtBytes = 16

// shortExt returns s's extension when it is a real one: at most
// maxExtBytes and not the whole name.
func shortExt(s string) string {
	ext := filepath.Ext(s)
	if len(ext) > maxExtBytes || len(ext) == len(s) {
		return ""
	}
	return ext
}

// truncateName cuts s to at most n bytes at a character boundary, keeping
// a short extension when there is room for it.
func truncateName(s string, n int) string {
	n = max(n, 0)
	if len(s) <= n {
		return s
	}
	ext := shortExt(s)
	if len(ext) > n {
		ext = ""
	}
	stem := s[:len(s)-len(ext)]
	cut := n - len(ext)
	for cut > 0 && !utf8.RuneStart(stem[cut]) {
		cut--
	}
	return stem[:cut] + ext
}

// SafePaths returns the path of each file of info, in the engine's file
// order, relative to the download dir and slash-separated: the torrent's
// name, then the file's path, every component passed through SanitizeName.
// Paths that would collide — equal, equal but for case (one file on a
// case-insensitive disk), or a file where another path needs a folder —
// get " (2)", " (3)", … before the extension.
//
// A multi-file torrent named "-" (Transmission's "no folder") still gets
// its folder: a task's files stay together under one name.
//
// A pad file (BEP 47) gets "": it is never on disk.
func SafePaths(info *metainfo.Info) []string {
	name := info.BestName()
	files := info.UpvertedFiles()
	out := make([]string, len(files))
	taken := map[string]bool{}   // case-folded file paths
	folders := map[string]bool{} // case-folded folder paths
	dir := inFolder(info, files)
	for i, f := range files {
		if isPadFile(&f) {
			continue
		}
		comps := []string{SanitizeName(name)}
		if dir {
			for _, c := range f.BestPath() {
				comps = append(comps, SanitizeName(c))
			}
		}
		if len(comps) == 0 {
			comps = []string{"_"}
		}
		if len(comps) > MaxPathDepth {
			tail := strings.Join(comps[MaxPathDepth-1:], "_")
			comps = append(comps[:MaxPathDepth-1], truncateName(tail, MaxComponentBytes))
		}
		// A folder of this path that is already some file's path gets
		// renamed, the same way for every file under it.
		for j := range len(comps) - 1 {
			comps[j] = unique(comps[:j+1], func(p string) bool { return taken[p] })
			folders[fold(comps[:j+1])] = true
		}
		comps[len(comps)-1] = unique(comps, func(p string) bool { return taken[p] || folders[p] })
		taken[fold(comps)] = true
		out[i] = strings.Join(comps, "/")
	}
	return out
}

// inFolder reports whether a torrent's files lie in a folder named after
// it. The engine's Info.IsDir says yes for every torrent with v2 metadata,
// so a single-file hybrid torrent (libtorrent's default) would land in
// name/name; like libtorrent, aria2 and qBittorrent, a v1 or hybrid
// torrent is a folder when its v1 file list is there, and a v2-only one
// when its file tree holds more than one file at the top.
func inFolder(info *metainfo.Info, files []metainfo.FileInfo) bool {
	if info.HasV1() {
		return len(info.Files) != 0
	}
	return len(files) != 1 || len(files[0].BestPath()) != 1
}

// unique returns the last of comps, renamed with " (k)" until the folded
// path is not used.
func unique(comps []string, used func(folded string) bool) string {
	last := comps[len(comps)-1]
	if !used(fold(comps)) {
		return last
	}
	// Names are at most MaxComponentBytes here, so with an extension of at
	// most maxExtBytes the suffix always fits.
	ext := shortExt(last)
	stem := last[:len(last)-len(ext)]
	try := slices.Clone(comps)
	for k := 2; ; k++ {
		suffix := " (" + strconv.Itoa(k) + ")" + ext
		try[len(try)-1] = truncateName(stem, MaxComponentBytes-len(suffix)) + suffix
		if !used(fold(try)) {
			return try[len(try)-1]
		}
	}
}

func fold(comps []string) string { return strings.ToLower(strings.Join(comps, "/")) }

// pathMaker is the storage's FilePathMaker: it answers from SafePaths of
// the info being opened. The storage asks for every file of one torrent in
// a row, so a one-entry cache makes that linear.
type pathMaker struct {
	mu    sync.Mutex
	info  *metainfo.Info
	paths map[fileKey]string
}

type fileKey struct {
	offset, length int64
	path           string
}

func keyOf(f *metainfo.FileInfo) fileKey {
	return fileKey{f.TorrentOffset, f.Length, strings.Join(f.BestPath(), "\x00")}
}

func (m *pathMaker) make(o storage.FilePathMakerOpts) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.info != o.Info {
		m.info = o.Info
		m.paths = make(map[fileKey]string)
		safe := SafePaths(o.Info)
		for i, f := range o.Info.UpvertedFiles() {
			m.paths[keyOf(&f)] = safe[i]
		}
	}
	p, ok := m.paths[keyOf(o.File)]
	if ok && p == "" {
		// A pad file: the storage gets the download dir itself, which it
		// can never open as a file; padStorage never passes it a pad
		// file's bytes.
		return "."
	}
	if !ok {
		// Not a file of this info: nothing sensible to write to. A path
		// outside the dir makes the storage refuse to open the torrent.
		return "../unknown-file"
	}
	return filepath.FromSlash(p)
}

// ErrUnsafePath is returned (wrapped) when a task's files cannot be opened
// safely: a symlink where a folder or file of the task would be.
var ErrUnsafePath = errors.New("unsafe download path")

// checkNoSymlinks refuses to open files under dir when any existing part
// of their paths below dir is a symbolic link: a link planted in the
// download dir (say "Name" -> /etc) would otherwise send writes outside it.
// The dir itself may be a link: the user chose it.
func checkNoSymlinks(dir string, paths []string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		comps := strings.Split(p, "/")
		cur := dir
		for _, c := range comps {
			cur = filepath.Join(cur, c)
			if seen[cur] {
				continue
			}
			seen[cur] = true
			fi, err := os.Lstat(cur)
			if errors.Is(err, fs.ErrNotExist) {
				break // nothing below exists yet
			}
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnsafePath, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, cur)
			}
		}
	}
	return nil
}
