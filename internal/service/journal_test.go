package service

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Deleting a task's files.

// writeFiles writes each path (slash-separated, under dir) with content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readFiles returns every file under dir by slash-separated path.
func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// A removal deletes nothing outside the task's download dir, whatever
// stands in for one of the task's folders by then: a symlink to another
// dir is not followed.
func TestDeleteFilesStaysInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"T/a": "a"})
	writeFiles(t, outside, map[string]string{"b": "b", "c/d": "d"})
	if err := os.Symlink(outside, filepath.Join(root, "T", "sub")); err != nil {
		t.Fatal(err)
	}
	err := deleteFiles([]string{"T/a", "T/sub/b", "T/sub/c/d", "../x"}, root)
	if err == nil || !strings.Contains(err.Error(), "T/sub/b") {
		t.Errorf("deleteFiles: %v, want it to refuse T/sub/b", err)
	}
	if got := readFiles(t, outside); !maps.Equal(got, map[string]string{"b": "b", "c/d": "d"}) {
		t.Errorf("outside the root, after deleteFiles: %v", got)
	}
	if _, err := os.Stat(filepath.Join(root, "T", "a")); !os.IsNotExist(err) {
		t.Errorf("the task's own file left: %v", err)
	}
}
