// Package deptest checks that dependencies stay in their room: only the
// engine package talks to the BitTorrent engine, only the store to bbolt,
// the public api package uses the standard library alone, and the HTTP
// handlers beside the WebSocket API reach its gates through httpguard.
package deptest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestImportsStayInTheirRoom(t *testing.T) {
	rules := []struct {
		prefix  string
		allowed []string // directories (relative to the repo) that may import it
	}{
		{"github.com/anacrolix/", []string{"internal/engine", "goutp"}},
		{"go.etcd.io/bbolt", []string{"internal/store"}},
		{"github.com/nats-io/", []string{"internal/cluster"}},
	}
	const mod = "github.com/lodestone-bt/lodestone/"
	// Packages that must not import others of this module: HTTP
	// gatekeeping lives in httpguard, and what stream and metrics need of
	// the engine reaches them through the service or the daemon.
	apart := []struct {
		dir string
		not []string // import path prefixes
	}{
		{"internal/metrics", []string{mod + "internal/apiserver", mod + "internal/engine"}},
		{"internal/stream", []string{mod + "internal/apiserver", mod + "internal/engine"}},
		{"internal/httpguard", []string{mod + "internal/"}},
	}
	root := "../.."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(rel, "api/") && strings.Contains(strings.Split(p, "/")[0], ".") {
				t.Errorf("%s imports %s: package api must use the standard library only", rel, p)
			}
			for _, a := range apart {
				if !strings.HasPrefix(rel, a.dir+"/") {
					continue
				}
				for _, n := range a.not {
					if strings.HasPrefix(p, n) {
						t.Errorf("%s imports %s: %s must not import %s", rel, p, a.dir, n)
					}
				}
			}
			for _, r := range rules {
				if !strings.HasPrefix(p, r.prefix) {
					continue
				}
				ok := false
				for _, a := range r.allowed {
					if strings.HasPrefix(rel, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s: only %v may", rel, p, r.allowed)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
