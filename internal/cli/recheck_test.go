package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// recheck verifies a task's data again, by id and by select: a byte
// spoiled on disk under a seeding task is found and fetched again, which
// nothing but the recheck would do.
func TestRecheck(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{Name: "r.bin", Size: 300_001, Seed: 51})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash
	magnet := tr.Magnet([]string{seeder.Addr})
	runAt(t, d, "add", "--label", "r", magnet).ok(t)
	runAt(t, d, "watch", id).ok(t)
	base := downloadDir(t, d)
	enginetest.SameFiles(t, tr, base)

	spoil := func() {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(base, "r.bin"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, 150_000); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, 150_000); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// healed waits until the spoiled byte is downloaded again, then for
	// the task to seed. (The state alone may read seeding for a moment
	// between the check's end and the download of what failed.) The
	// seeder, complete like us, may have been dropped when we finished: the
	// magnet added again brings its address back, as a tracker would, every
	// 2 s since one added before the check ends meets a complete task.
	cl := d.Client(t)
	src, err := os.ReadFile(filepath.Join(tr.Root, "r.bin"))
	if err != nil {
		t.Fatal(err)
	}
	healed := func() {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		var readded time.Time
		for {
			got, err := os.ReadFile(filepath.Join(base, "r.bin"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, src) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the spoiled byte was never downloaded again")
			}
			if time.Since(readded) > 2*time.Second {
				if _, err := cl.AddTask(t.Context(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: magnet}); err != nil {
					t.Fatalf("add the magnet again: %v", err)
				}
				readded = time.Now()
			}
			time.Sleep(50 * time.Millisecond)
		}
		waitState(t, d, id, api.StateSeeding)
	}

	// By select: the task is "checking" when the answer comes, then
	// downloads the spoiled piece again and seeds.
	spoil()
	if out := runAt(t, d, "recheck", "--label", "r").ok(t).stdout; out != "rechecking "+id+" r.bin\n" {
		t.Errorf("recheck --label r printed %q", out)
	}
	healed()

	// By id prefix, the same.
	spoil()
	if out := runAt(t, d, "recheck", id[:8]).ok(t).stdout; out != "rechecking "+id+" r.bin\n" {
		t.Errorf("recheck %s printed %q", id[:8], out)
	}
	healed()

	if out := runAt(t, d, "recheck", "--json", id).ok(t).stdout; out != "{}\n" {
		t.Errorf("recheck --json printed %q", out)
	}
	runAt(t, d, "recheck", "--all", id).fails(t, cli.ExitUsage, "not both")
	runAt(t, d, "recheck", "0123456789abcdef0123456789abcdef01234567").fails(t, cli.ExitFailure, "(task_not_found)")
}
