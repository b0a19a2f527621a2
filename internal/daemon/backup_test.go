package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/backup"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// fetchBackup takes a backup of d with credential cred into memory.
func fetchBackup(t *testing.T, d *daemontest.Daemon, cred string) ([]byte, error) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	body, err := client.Backup(ctxT(t, 60*time.Second), d.URL, cred, client.BackupOptions{HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

// A backup taken while tasks are being added restores into a new data
// dir on which a new daemon has every task whose add was acknowledged
// before the backup began, and a finished task verifies complete from its
// data on disk with its only seeder gone.
func TestBackupRestoreWhileAdding(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "kept.bin", Size: 1_500_013, Seed: 91})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	a := daemontest.Start(t, daemontest.Options{})
	c := a.Client(t)
	done := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(done.TaskID))
	seeder.Close()

	base := enginetest.Generate(t, enginetest.Content{Name: "base.bin", Size: 40_000, Seed: 63})
	mi := enginetest.Parse(t, base.MetaInfo)
	var (
		mu    sync.Mutex
		acked []string
	)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				data := mi.WithName(fmt.Sprintf("adder-%d-%05d.iso", w, i))
				actx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := c.AddTask(actx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(data), Paused: true})
				cancel()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, res.TaskID)
				mu.Unlock()
			}
		})
	}
	waitUntilAPI(t, "20 adds acknowledged", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20
	})
	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()
	raw, err := fetchBackup(t, a, daemontest.Token)
	// Keep adding a little after the backup, then stop the adders.
	waitUntilAPI(t, "more adds", 60*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= len(before)+10
	})
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("task.add: %v", err)
	}
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	a.Stop(t)
	t.Logf("backup of %d bytes; %d adds acknowledged before it began, %d by the end", len(raw), len(before), len(acked))

	// The same download dir (the same paths), a new data dir.
	dirs := daemontest.Dirs{Data: filepath.Join(t.TempDir(), "restored"), Download: a.Dirs.Download}
	m, err := backup.Restore(bytes.NewReader(raw), dirs.Data)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !slices.Contains(m.DownloadDirs, a.Dirs.Download) || m.DownloadDir != a.Dirs.Download || m.Engine == "" {
		t.Errorf("manifest %+v: want download dir %s and an engine", m, a.Dirs.Download)
	}
	if _, err := os.Stat(filepath.Join(dirs.Data, backup.TokenName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("token restored from a backup taken without --with-token: %v", err)
	}
	b := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	cb := b.Client(t)
	have := map[string]bool{}
	for _, task := range listTasks(t, cb) {
		have[task.TaskID] = true
		if task.TaskID != done.TaskID && !slices.Contains(acked, task.TaskID) {
			t.Errorf("restored task %s was never acknowledged", task.TaskID)
		}
	}
	for _, id := range append(before, done.TaskID) {
		if !have[id] {
			t.Errorf("task %s, acknowledged before the backup began, is not in the restored daemon", id)
		}
	}
	task := waitTask(t, cb, done.TaskID, "seeding with all data verified", 120*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == task.Size && task.Size > 0
	})
	if task.Name != "kept.bin" || task.Size != 1_500_013 {
		t.Errorf("restored task %+v", task)
	}
	enginetest.SameFiles(t, tr, dirs.Download)
}

// The backup needs admin scope: read and control keys are refused with
// 403, a wrong token with 401.
func TestBackupNeedsAdmin(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	for _, tc := range []struct {
		name   string
		cred   string
		status int
	}{
		{"read key", createKey(t, c, "ro", api.ScopeRead).Key, http.StatusForbidden},
		{"control key", createKey(t, c, "ctl", api.ScopeControl).Key, http.StatusForbidden},
		{"wrong token", "not-the-token", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetchBackup(t, d, tc.cred)
			var he *client.HandshakeError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("backup with a %s: %v, want HTTP %d", tc.name, err, tc.status)
			}
		})
	}
	admin := createKey(t, c, "admin", api.ScopeAdmin).Key
	raw, err := fetchBackup(t, d, admin)
	if err != nil {
		t.Fatalf("backup with an admin key: %v", err)
	}
	if _, err := backup.Read(bytes.NewReader(raw), func(string, io.Reader) error { return nil }); err != nil {
		t.Fatalf("the admin key's backup: %v", err)
	}
}

// Restore refuses the data dir of a running daemon and a dir with files
// in it, and a backup cut short leaves its dir empty.
func TestRestoreRefuses(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	raw, err := fetchBackup(t, d, daemontest.Token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(bytes.NewReader(raw), d.Dirs.Data); !errors.Is(err, backup.ErrInUse) {
		t.Errorf("restore into a running daemon's data dir: %v, want ErrInUse", err)
	}
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(bytes.NewReader(raw), full); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("restore into a dir with a file: %v, want ErrNotEmpty", err)
	}
	empty := filepath.Join(t.TempDir(), "new")
	if _, err := backup.Restore(bytes.NewReader(raw[:len(raw)-1500]), empty); !errors.Is(err, backup.ErrInvalid) {
		t.Errorf("restore of a backup cut short: %v, want ErrInvalid", err)
	}
	if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
		t.Errorf("after a failed restore the dir holds %v (%v), want nothing", entries, err)
	}
}

// Moving to another machine where the data is at another path: restored
// on its own, the task says its data is missing; moved to the new path
// (task.move) and rechecked, it verifies the data there without a peer.
func TestRestoreDataMovedElsewhere(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "moved.bin", Size: 700_001, Seed: 92})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	a := daemontest.Start(t, daemontest.Options{})
	c := a.Client(t)
	done := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(done.TaskID))
	seeder.Close()
	raw, err := fetchBackup(t, a, daemontest.Token)
	if err != nil {
		t.Fatal(err)
	}
	a.Stop(t)

	// The "new machine": the data at another path, the old one gone.
	newDownload := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(a.Dirs.Download, newDownload); err != nil {
		t.Fatal(err)
	}
	dirs := daemontest.Dirs{Data: filepath.Join(t.TempDir(), "restored"), Download: newDownload}
	if _, err := backup.Restore(bytes.NewReader(raw), dirs.Data); err != nil {
		t.Fatal(err)
	}
	b := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	cb := b.Client(t)
	task := stateOf(t, cb, done.TaskID)
	if task.State != api.StateError || !strings.Contains(task.Error, "data dir missing: "+a.Dirs.Download) {
		t.Fatalf("restored with its data elsewhere: state %s, error %q; want error naming %s", task.State, task.Error, a.Dirs.Download)
	}
	// The documented steps (docs/OPERATIONS.md): pause, make the old
	// path an empty dir, restart, move to the new path, recheck, resume.
	if err := cb.PauseTask(ctxT(t, 10*time.Second), done.TaskID); err != nil {
		t.Fatalf("pause a task whose dir is missing: %v", err)
	}
	b.Stop(t)
	if err := os.MkdirAll(a.Dirs.Download, 0o755); err != nil {
		t.Fatal(err)
	}
	b = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	cb = b.Client(t)
	moved, err := cb.MoveTask(ctxT(t, 60*time.Second), done.TaskID, newDownload)
	if err != nil {
		t.Fatalf("move to where the data is: %v", err)
	}
	if moved.DownloadDir != newDownload {
		t.Errorf("moved to %s, want %s", moved.DownloadDir, newDownload)
	}
	// The move kept what was verified at the old path: nothing. A
	// recheck hashes the data at the new one.
	if err := cb.RecheckTask(ctxT(t, 10*time.Second), done.TaskID); err != nil {
		t.Fatalf("recheck: %v", err)
	}
	if err := cb.ResumeTask(ctxT(t, 10*time.Second), done.TaskID); err != nil {
		t.Fatal(err)
	}
	waitTask(t, cb, done.TaskID, "seeding with all data verified", 60*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == task.Size && task.Size > 0
	})
	enginetest.SameFiles(t, tr, newDownload)
	if entries, err := os.ReadDir(a.Dirs.Download); err != nil || len(entries) != 0 {
		t.Errorf("the old path holds %v (%v), want nothing", entries, err)
	}
}
