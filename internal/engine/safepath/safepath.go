// Package safepath owns the rules that turn a torrent's names into paths
// on disk. Whoever made a torrent chose its names; every one of them is
// made safe here before a file is opened, so no name can write outside
// the task's download dir or fool a reader of the name. Both cores (the
// engine's and internal/engine/native) place files with Paths, so a task
// lands in the same place whichever core downloads it.
package safepath

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/anacrolix/torrent/metainfo"
)

const (
	// MaxComponentBytes is the longest file or folder name kept (Linux's
	// NAME_MAX); longer ones are cut at a character boundary, keeping a
	// short extension.
	MaxComponentBytes = 255
	// MaxPathDepth is the most folders-plus-file a path keeps; deeper
	// tails are joined into the last component.
	MaxPathDepth = 32
)

// Name makes one path component safe:
//   - invalid UTF-8 becomes U+FFFD;
//   - control characters (C0, DEL, C1), bidirectional formatting
//     characters (which can make "gpj.exe" read as "exe.jpg") and the
//     separators / and \ become "_";
//   - "", "." and ".." become "_", "_" and "__";
//   - a drive letter ("C:") has its colon replaced, a Windows device name
//     (CON, NUL, COM1, …, with or without an extension) gets a "_" prefix;
//   - more than MaxComponentBytes bytes are cut, keeping the extension.
func Name(s string) string {
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

// IsPad reports whether f is a BEP 47 pad file (attr "p"): bytes of zeros
// between files that no client writes to disk.
func IsPad(f *metainfo.FileInfo) bool { return strings.ContainsRune(f.Attr, 'p') }

// Paths returns the path of each file of info, in the engine's file
// order (info.UpvertedFiles: a hybrid torrent's v2 file tree), relative
// to the download dir and slash-separated: the torrent's name, then the
// file's path, every component passed through Name. Paths that would
// collide — equal, equal but for case (one file on a case-insensitive
// disk), or a file where another path needs a folder — get " (2)",
// " (3)", … before the extension.
//
// A multi-file torrent named "-" (Transmission's "no folder") still gets
// its folder: a task's files stay together under one name.
//
// A pad file (BEP 47) gets "": it is never on disk.
func Paths(info *metainfo.Info) []string {
	name := info.BestName()
	files := info.UpvertedFiles()
	out := make([]string, len(files))
	taken := map[string]bool{}   // case-folded file paths
	folders := map[string]bool{} // case-folded folder paths
	dir := inFolder(info, files)
	for i, f := range files {
		if IsPad(&f) {
			continue
		}
		comps := []string{Name(name)}
		if dir {
			for _, c := range f.BestPath() {
				comps = append(comps, Name(c))
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

// Check returns an error naming the first path that breaks Paths'
// promises for data files: every path non-empty, relative and valid
// UTF-8; no empty, "." or ".." component, none over MaxComponentBytes,
// none with a backslash, NUL, control or bidirectional formatting
// character; at most MaxPathDepth components; no two equal ignoring case;
// no file where another path needs a folder. Paths' output, less the ""
// of pad files, always passes: tests and fuzzing assert it with Check.
func Check(paths []string) error {
	files := map[string]bool{}
	for _, p := range paths {
		if p == "" || !utf8.ValidString(p) || path.IsAbs(p) {
			return fmt.Errorf("path %q: not a valid relative path", p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxComponentBytes || strings.ContainsAny(c, "\\\x00") {
				return fmt.Errorf("path %q: bad component %q", p, c)
			}
			for _, r := range c {
				if unicode.IsControl(r) || isBidiControl(r) {
					return fmt.Errorf("path %q: character %U", p, r)
				}
			}
		}
		if strings.Count(p, "/") >= MaxPathDepth {
			return fmt.Errorf("path %q: deeper than %d", p, MaxPathDepth)
		}
		k := strings.ToLower(p)
		if files[k] {
			return fmt.Errorf("path %q: collides with another", p)
		}
		files[k] = true
	}
	for _, p := range paths {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if files[strings.ToLower(d)] {
				return fmt.Errorf("path %q: its folder %q is also a file", p, d)
			}
		}
	}
	return nil
}
