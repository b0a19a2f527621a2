//go:build linux

package daemon_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Disk-space faults, on small tmpfs mounts: a disk that fills up during a
// download, a torrent that cannot fit, a magnet whose metadata shows it
// cannot fit, and the reserve kept for the data dir. They need to mount
// (root; scripts/test runs them in a private mount namespace).

// freeSpace returns the bytes available on dir's filesystem.
func freeSpace(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fillDisk writes a file in dir that leaves about leave bytes free, and
// returns its path.
func fillDisk(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i) | 1 // not zeros, in case a filesystem dedups them
	}
	for freeSpace(t, dir) > leave {
		n := min(int64(len(buf)), freeSpace(t, dir)-leave)
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return path
}

// The disk of a download dir fills up during a download (something else
// wrote to it): the task goes to state error with an engine.alert, while
// another task on another filesystem finishes and the API answers. Once
// space is freed, the task resumes by itself and finishes with every byte
// right.
func TestDiskFullStopsAndResumes(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	small := filepath.Join(dirs.Download, "small")
	enginetest.MountTmpfs(t, small, "8m")

	full := enginetest.Generate(t, enginetest.Content{Name: "full.bin", Size: 5<<20 + 12_345, Seed: 300})
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 3<<20 + 7, Seed: 301})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, full, other)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)

	// Added paused: when its metadata arrives it fits (5 MiB of 8), so it
	// is not held back.
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{
		Type: api.TaskTypeMagnet, Data: full.Magnet([]string{seeder.Addr}), DownloadDir: "small", Paused: true,
	})
	if err != nil {
		t.Fatalf("task.add into the 8 MiB tmpfs: %v", err)
	}
	waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused {
		t.Fatalf("after its metadata: %+v, want paused", task)
	}
	// Then the disk fills up, leaving 1 MiB.
	filler := fillDisk(t, small, 1<<20)
	if err := c.ResumeTask(ctxT(t, 10*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}

	evs := waitAll(t, c, 60*time.Second,
		match{api.EventEngineAlert, alertMatching(res.TaskID, "no space left on device")},
		match{api.EventTaskState, stateTo(res.TaskID, api.StateError)},
		match{api.EventTaskError, forTask(res.TaskID)},
	)
	t.Logf("alert: %s", evs[0].Data)
	task := stateOf(t, c, res.TaskID)
	if task.State != api.StateError || !strings.Contains(task.Error, "no space left on device") {
		t.Fatalf("after the disk filled: %+v, want state error naming the full disk", task)
	}
	if task.Completed >= task.Size {
		t.Fatalf("completed %d of %d: the disk did not fill before the end", task.Completed, task.Size)
	}
	t.Logf("stopped at %d of %d bytes", task.Completed, task.Size)

	// The rest of the daemon goes on: another task on another filesystem
	// finishes; the API answers.
	ro := addMagnet(t, c, other.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(ro.TaskID))
	enginetest.SameFiles(t, other, dirs.Download)
	if _, err := c.ServerInfo(ctxT(t, 5*time.Second)); err != nil {
		t.Fatalf("server.info while a disk is full: %v", err)
	}
	// While the disk stays full the task stays in error. Letting time
	// pass is the test: the service retries a full disk every 2 s, so it
	// has looked again, and left the task alone, by the end of this.
	time.Sleep(2500 * time.Millisecond)
	if task := stateOf(t, c, res.TaskID); task.State != api.StateError {
		t.Fatalf("with the disk still full: %+v, want state error", task)
	}

	// Space comes back: the task resumes by itself.
	freedAt := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, 30*time.Second,
		match{api.EventTaskState, stateTo(res.TaskID, api.StateDownloading)},
		match{api.EventEngineAlert, alertMatching(res.TaskID, "free space is back")},
	)
	resumed := time.Since(freedAt)
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	t.Logf("resumed %v after space was freed, finished %v after", resumed.Round(time.Millisecond), time.Since(freedAt).Round(time.Millisecond))
	enginetest.SameFiles(t, full, small)
	if task := stateOf(t, c, res.TaskID); task.State != api.StateSeeding || task.Error != "" {
		t.Errorf("after the finish: %+v, want seeding without error", task)
	}
	alerts, all := 0, 0
	for _, ev := range replayAll(t, d) {
		if ev.Name != api.EventEngineAlert {
			continue
		}
		all++
		if forTask(res.TaskID)(ev.Data) {
			alerts++
		}
	}
	t.Logf("engine.alert events about the task: %d, in all: %d", alerts, all)
}

// replayAll returns every logged event, read with events.replay on a new
// connection.
func replayAll(t *testing.T, d *daemontest.Daemon) []api.Event {
	t.Helper()
	c := d.Client(t) // closed when the test ends
	res, err := c.Replay(ctxT(t, 10*time.Second), "0")
	if err != nil {
		t.Fatalf("events.replay: %v", err)
	}
	var out []api.Event
	deadline := time.After(30 * time.Second)
	for len(out) < res.Replayed {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("replay connection ended: %v", c.Err())
			}
			if ev.Name != api.EventTaskProgress {
				out = append(out, ev)
			}
		case <-deadline:
			t.Fatalf("replayed %d of %d events within 30s", len(out), res.Replayed)
		}
	}
	return out
}

// A torrent whose wanted data does not fit in the free space of its
// download dir is refused by task.add with no_space (205) and leaves
// nothing behind; selecting only files that fit is accepted.
func TestAddRefusedWithoutSpace(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	small := filepath.Join(dirs.Download, "small")
	enginetest.MountTmpfs(t, small, "8m")
	tr := enginetest.Generate(t, enginetest.Content{Name: "big", Files: []enginetest.File{
		{Path: "huge.bin", Size: 10 << 20},
		{Path: "little.bin", Size: 300_001},
	}, Seed: 310})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	data := base64.StdEncoding.EncodeToString(tr.MetaInfo)

	for _, paused := range []bool{false, true} {
		_, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data, DownloadDir: "small", Paused: paused})
		var ae *api.Error
		if !asCode(err, &ae, api.CodeNoSpace) {
			t.Fatalf("task.add of 10 MiB into an 8 MiB tmpfs (paused %v): %v, want no_space (205)", paused, err)
		}
		if !strings.Contains(ae.Message, "not enough free space in "+small) || !strings.Contains(ae.Message, "available") {
			t.Errorf("no_space message %q does not say where and how much", ae.Message)
		}
		t.Logf("refused: %v", err)
	}
	tasks, err := c.ListTasks(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 0 {
		t.Errorf("after a refused add, task.list = %+v, want none", tasks)
	}
	if ents, err := os.ReadDir(small); err != nil || len(ents) != 0 {
		t.Errorf("a refused add left %d entries in its download dir (%v)", len(ents), err)
	}

	// Only the small file: it fits.
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{
		Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), DownloadDir: "small", Files: []int{1},
	})
	if err != nil {
		t.Fatalf("task.add of the file that fits: %v", err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	want := enginetest.Hashes(t, tr.Root, "big")["big/little.bin"]
	if got := enginetest.Hashes(t, small, "big")["big/little.bin"]; got != want {
		t.Error("big/little.bin differs from the source")
	}
}

// A magnet cannot be checked before its metadata arrives. When it does and
// the data does not fit, the task goes to state error with an engine.alert
// and does not write; when space is freed it starts by itself.
func TestMagnetWithoutSpaceWaits(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	small := filepath.Join(dirs.Download, "small")
	enginetest.MountTmpfs(t, small, "8m")
	tr := enginetest.Generate(t, enginetest.Content{Name: "later.bin", Size: 5<<20 + 99, Seed: 320})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	filler := fillDisk(t, small, 2<<20)

	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), DownloadDir: "small"})
	if err != nil {
		t.Fatalf("task.add magnet: %v", err)
	}
	evs := waitAll(t, c, 60*time.Second,
		match{api.EventTaskMetadata, forTask(res.TaskID)},
		match{api.EventEngineAlert, alertMatching(res.TaskID, "not enough free space in "+small)},
		match{api.EventTaskState, stateTo(res.TaskID, api.StateError)},
	)
	t.Logf("alert: %s", evs[1].Data)
	if sd := decode[api.TaskStateData](t, evs[2].Data); sd.From != api.StateMetadata || !strings.Contains(sd.Error, "not enough free space") {
		t.Errorf("task.state %+v, want metadata → error for lack of space", sd)
	}
	if _, err := os.Stat(filepath.Join(small, "later.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a task that does not fit wrote its file (stat: %v)", err)
	}

	freedAt := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskState, 30*time.Second, stateTo(res.TaskID, api.StateDownloading))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	t.Logf("started %v after space was freed", time.Since(freedAt).Round(time.Millisecond))
	enginetest.SameFiles(t, tr, small)
}

// When downloads share the filesystem of the data dir, StateReserve stays
// free for the daemon's own state: a torrent that would fit in the free
// space but not beside the reserve is refused; one that fits beside it is
// downloaded.
func TestStateDirReserve(t *testing.T) {
	base := t.TempDir()
	enginetest.MountTmpfs(t, base, "72m")
	dirs := daemontest.Dirs{Data: filepath.Join(base, "data"), Download: filepath.Join(base, "downloads")}
	tooBig := enginetest.Generate(t, enginetest.Content{Name: "too-big.bin", Size: 12 << 20, Seed: 330})
	fits := enginetest.Generate(t, enginetest.Content{Name: "fits.bin", Size: 3<<20 + 1, Seed: 331})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, fits)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)

	free := freeSpace(t, dirs.Download)
	if free < 12<<20 || free-service.StateReserve >= 12<<20 {
		t.Fatalf("free space %d: the test needs 12 MiB < free < 12 MiB + reserve", free)
	}
	_, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tooBig.MetaInfo)})
	var ae *api.Error
	if !asCode(err, &ae, api.CodeNoSpace) {
		t.Fatalf("task.add of 12 MiB with %d bytes free on the data dir's filesystem: %v, want no_space (205)", free, err)
	}
	if !strings.Contains(ae.Message, "kept free for the daemon's data dir") {
		t.Errorf("no_space message %q does not mention the reserve", ae.Message)
	}
	t.Logf("refused with %d MiB free: %v", free>>20, err)

	res := addMagnet(t, c, fits.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, fits, dirs.Download)
}
