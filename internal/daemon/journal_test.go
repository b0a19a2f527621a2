//go:build linux

package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// SIGKILL in the middle of task.move and of task.remove with delete_data
// (issue 15, items 5 and 6), on the real binary. The daemon runs with the
// test hook $LODESTONE_TEST_STALL_AFTER_FILES, which stops either
// operation after that many files, so the kill lands at a known point;
// the restarted daemon runs without it. They mount a tmpfs (root: run
// them in a private mount namespace, as scripts/test does).

// stallEnv stalls moves and deletions after n files.
func stallEnv(n int) []string {
	return []string{fmt.Sprintf("LODESTONE_TEST_STALL_AFTER_FILES=%d", n)}
}

// manyFiles is a multi-file torrent of n files in nested folders, of odd
// sizes, in 16 KiB pieces that straddle them.
func manyFiles(name string, n int, size func(i int) int64) enginetest.Content {
	c := enginetest.Content{Name: name, PieceLength: 16 << 10, Seed: uint64(n)}
	for i := range n {
		c.Files = append(c.Files, enginetest.File{Path: fmt.Sprintf("d%d/sub%d/f%04d.bin", i%4, i%3, i), Size: size(i)})
	}
	return c
}

// seedFromDisk copies tr's data into dirs.Download, adds it and waits
// until the daemon has verified it all (seeding, with no peer at all).
func seedFromDisk(t *testing.T, dirs daemontest.Dirs, url string, tr *enginetest.Torrent) api.Task {
	t.Helper()
	if err := os.CopyFS(dirs.Download, os.DirFS(tr.Root)); err != nil {
		t.Fatal(err)
	}
	c := daemontest.Dial(t, url)
	id := addTorrent(t, c, tr).TaskID
	return waitTask(t, c, id, "verified from disk", 60*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == task.Size
	})
}

// countFiles counts the files under dir while the daemon may be moving
// or deleting them: one that vanishes as it is looked at is not counted.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case !d.IsDir():
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return n
}

// partsUnder lists the temporary parts of a move left under dir.
func partsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var parts []string
	for p := range fileSizes(t, dir) {
		if strings.HasSuffix(p, ".lodestone-part") {
			parts = append(parts, p)
		}
	}
	return parts
}

func TestMoveSurvivesSIGKILL(t *testing.T) {
	const total, stallAt = 12, 5
	other := filepath.Join(t.TempDir(), "other")
	enginetest.MountTmpfs(t, other, "64m") // another filesystem: the move copies
	tr := enginetest.Generate(t, manyFiles("moving", total, func(i int) int64 { return 150_001 + int64(i)*7_919 }))
	dirs := daemontest.NewDirs(t)
	args := []string{"--download-root", other}
	p := daemontest.StartProcessWith(t, dirs, daemontest.ProcessOptions{Args: args, Env: stallEnv(stallAt)})
	seeded := seedFromDisk(t, dirs, p.URL, tr)
	id, size := seeded.TaskID, seeded.Size
	order := taskFiles(t, daemontest.Dial(t, p.URL), id)
	from := filepath.Join(dirs.Download, tr.Name)
	to := filepath.Join(other, tr.Name)

	// The move stalls after stallAt files; the kill comes then.
	c := daemontest.Dial(t, p.URL)
	done := make(chan error, 1)
	go func() {
		_, err := c.MoveTask(context.Background(), id, other)
		done <- err
	}()
	waitUntilAPI(t, "the move's first files", 60*time.Second, func() bool {
		return countFiles(t, to) == stallAt && countFiles(t, from) == total-stallAt
	})
	// A kill inside the next file's copy leaves its temporary part,
	// truncated: put one there as it would be.
	for _, f := range order {
		src := filepath.Join(dirs.Download, filepath.FromSlash(f.Path))
		if _, err := os.Stat(src); err != nil {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(other, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		part := filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".lodestone-part")
		if err := os.WriteFile(part, b[:len(b)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		break
	}
	p.Kill(t)
	if err := <-done; err == nil {
		t.Fatal("the move answered although the daemon was killed in the middle of it")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The restarted daemon finishes the move before it loads the task.
	p = daemontest.StartProcessWith(t, dirs, daemontest.ProcessOptions{Args: args})
	c = daemontest.Dial(t, p.URL)
	task := waitTask(t, c, id, "complete again after the restart", 30*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding || task.State == api.StateError
	})
	if task.State != api.StateSeeding || task.Completed != size || task.Downloaded != 0 || task.DownloadDir != other {
		t.Fatalf("after the restart: state %s, %d of %d bytes verified, %d downloaded, in %s (want seeding, all verified, none downloaded, in %s); error %q",
			task.State, task.Completed, size, task.Downloaded, task.DownloadDir, other, task.Error)
	}
	// Every file in exactly one place, whole; no part, no old folder.
	enginetest.SameFiles(t, tr, other)
	if left := fileSizes(t, dirs.Download); len(left) != 0 {
		t.Errorf("files left in the old dir: %v", left)
	}
	if _, err := os.Stat(from); !os.IsNotExist(err) {
		t.Errorf("old folder still there: %v", err)
	}
	if parts := partsUnder(t, other); len(parts) != 0 {
		t.Errorf("temporary parts left: %v", parts)
	}

	// Later moves to both dirs work.
	for _, dir := range []string{dirs.Download, other} {
		moved, err := c.MoveTask(ctxT(t, 60*time.Second), id, dir)
		if err != nil {
			t.Fatalf("move to %s after the restart: %v", dir, err)
		}
		if moved.DownloadDir != dir {
			t.Errorf("moved to %s, want %s", moved.DownloadDir, dir)
		}
		enginetest.SameFiles(t, tr, dir)
	}
	waitTask(t, c, id, "seeding after the later moves", 30*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == size && task.Downloaded == 0
	})
	p.Terminate(t)
}

func TestRemoveSurvivesSIGKILL(t *testing.T) {
	const total, stallAt = 600, 200
	tr := enginetest.Generate(t, manyFiles("removing", total, func(i int) int64 { return 1 + int64(i*37)%3_001 }))
	dirs := daemontest.NewDirs(t)
	p := daemontest.StartProcessWith(t, dirs, daemontest.ProcessOptions{Env: stallEnv(stallAt)})
	id := seedFromDisk(t, dirs, p.URL, tr).TaskID
	top := filepath.Join(dirs.Download, tr.Name)
	// Not the task's: stays.
	mine := filepath.Join(top, "d0", "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	c := daemontest.Dial(t, p.URL)
	done := make(chan error, 1)
	go func() { done <- c.RemoveTask(context.Background(), id, true) }()
	waitUntilAPI(t, "the removal's first deletions", 60*time.Second, func() bool {
		return countFiles(t, top) == total-stallAt+1
	})
	p.Kill(t)
	if err := <-done; err == nil {
		t.Fatal("the removal answered although the daemon was killed in the middle of it")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	p = daemontest.StartProcessWith(t, dirs, daemontest.ProcessOptions{})
	c = daemontest.Dial(t, p.URL)
	if tasks := listTasks(t, c); len(tasks) != 0 {
		t.Errorf("tasks after the restart: %+v", tasks)
	}
	left := fileSizes(t, dirs.Download)
	if _, ok := left[filepath.Join(tr.Name, "d0", "notes.txt")]; !ok || len(left) != 1 {
		t.Errorf("after the restart %d files are left under the download dir, want only d0/notes.txt", len(left))
	}
	// Folders the deletion emptied are gone.
	for _, d := range []string{"d1", "d2", "d3"} {
		if _, err := os.Stat(filepath.Join(top, d)); !os.IsNotExist(err) {
			t.Errorf("folder %s left: %v", d, err)
		}
	}
	p.Terminate(t)
}
