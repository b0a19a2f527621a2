//go:build unix

package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func guard(t *testing.T, dirs ...string) *Guard {
	t.Helper()
	g, err := NewGuard(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// A dir that is, contains, or lies in a protected dir is refused when
// opened, also when its path reaches it through a symlink.
func TestOpenRefusesProtected(t *testing.T) {
	base := t.TempDir()
	home, data, other := filepath.Join(base, "home"), filepath.Join(base, "home", ".local", "share", "lodestone"), filepath.Join(base, "other")
	mkdirs(t, data, other)
	link := filepath.Join(base, "link")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	g := guard(t, data)
	for _, dir := range []string{home, link, data, filepath.Join(home, ".local"), filepath.Join(link, ".local", "share", "lodestone")} {
		if d, err := Open(dir, g); !errors.Is(err, ErrProtected) {
			if d != nil {
				d.Close()
			}
			t.Errorf("Open(%s): %v, want ErrProtected", dir, err)
		}
	}
	mkdirs(t, filepath.Join(data, "inner"))
	if _, err := Open(filepath.Join(data, "inner"), g); !errors.Is(err, ErrProtected) {
		t.Errorf("Open of a dir inside the protected one: %v, want ErrProtected", err)
	}
	d, err := Open(other, g)
	if err != nil {
		t.Fatalf("Open of an unrelated dir: %v", err)
	}
	d.Close()
}

// A protected dir that turns up below an open dir after it was opened
// (moved in, or reached through a link that stays inside) is refused at
// the file's open, by device and inode: what the path says does not
// matter.
func TestOpenFileRefusesProtectedMovedIn(t *testing.T) {
	base := t.TempDir()
	root, data := filepath.Join(base, "root"), filepath.Join(base, "data")
	mkdirs(t, root, data)
	token := filepath.Join(data, "token")
	os.WriteFile(token, []byte("owner"), 0o600)
	d, err := Open(root, guard(t, data))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := os.Rename(data, filepath.Join(root, ".local")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".local", filepath.Join(root, "alias")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{".local/token", "alias/token", ".local/sub/new"} {
		f, err := d.OpenFile(rel, os.O_RDWR|os.O_CREATE, 0o644)
		if !errors.Is(err, ErrProtected) {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenFile(%s): %v, want ErrProtected", rel, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".local", "sub")); err == nil {
		t.Error("a folder was made in the protected dir")
	}
	if b, _ := os.ReadFile(filepath.Join(root, ".local", "token")); string(b) != "owner" {
		t.Errorf("token now %q", b)
	}
}

// A link swapped in for a folder after the dir was opened cannot lead an
// open outside; a FIFO (or any non-regular file) at a file's path is
// refused.
func TestOpenFileStaysInside(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	mkdirs(t, filepath.Join(root, "task"), outside)
	d, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.OpenFile("task/a", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.RemoveAll(filepath.Join(root, "task"))
	if err := os.Symlink(outside, filepath.Join(root, "task")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"task/b", "task/sub/c"} {
		if f, err := d.OpenFile(rel, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
			f.Close()
			t.Errorf("OpenFile(%s) through the link succeeded", rel)
		}
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("created outside: %v", ents)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := d.OpenFile("fifo", os.O_RDWR, 0); !errors.Is(err, ErrNotRegular) {
		if f != nil {
			f.Close()
		}
		t.Errorf("OpenFile of a FIFO: %v, want ErrNotRegular", err)
	}
}
