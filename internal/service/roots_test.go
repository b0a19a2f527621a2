package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resolveRoots refuses a root that contains the data dir or lies inside
// it, after resolving symlinks (issue 15, item 2); service.New fails with
// it.
func TestRootsKeepApartFromDataDir(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	data := filepath.Join(home, ".local", "share", "lodestone")
	os.MkdirAll(data, 0o700)
	link := filepath.Join(base, "link")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		roots []string
		ok    bool
	}{
		{"apart", []string{filepath.Join(home, "Downloads"), filepath.Join(base, "media")}, true},
		{"root contains it", []string{filepath.Join(home, "Downloads"), home}, false},
		{"root links to a dir containing it", []string{link}, false},
		{"root is it", []string{data}, false},
		{"root inside it", []string{filepath.Join(link, ".local", "share", "lodestone", "dl")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveRoots(tc.roots, data)
			if tc.ok != (err == nil) {
				t.Fatalf("resolveRoots(%q): %v", tc.roots, err)
			}
			if err != nil && !strings.Contains(err.Error(), "data dir") {
				t.Errorf("error %q does not name the data dir", err)
			}
		})
	}
}
