package daemon_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// BenchmarkGetDuringMove measures task.get on one task while another
// task's 1 GiB of data moves to another filesystem (a tmpfs mounted for
// the run, so the move is a copy), and the same task.get with nothing
// moving. It needs a mount namespace: run it with bench/run-movebench.
// Each iteration is one move of 1 GiB, alternating between the two
// filesystems.
func BenchmarkGetDuringMove(b *testing.B) {
	other := filepath.Join(b.TempDir(), "tmpfs")
	if err := os.MkdirAll(other, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", other, "tmpfs", 0, "size=1200m"); err != nil {
		b.Skipf("mounting a tmpfs needs a mount namespace (bench/run-movebench): %v", err)
	}
	b.Cleanup(func() { syscall.Unmount(other, syscall.MNT_DETACH) })

	big := enginetest.Generate(b, enginetest.Content{Name: "big.bin", Size: 1 << 30, PieceLength: 4 << 20, Seed: 1})
	small := enginetest.Generate(b, enginetest.Content{Name: "small.bin", Size: 1 << 20, Seed: 2})
	dirs := daemontest.NewDirs(b)
	cfg := daemontest.Config(b, dirs, false)
	cfg.DownloadRoots = []string{big.Root, other}
	d, err := daemon.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("daemon: %v", err)
		}
	})
	c := daemontest.Dial(b, "ws://"+d.APIAddr()+"/ws")
	bigID := add(b, c, big, big.Root)
	smallID := add(b, c, small, "")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		tk, err := c.GetTask(ctx, bigID)
		if err != nil {
			b.Fatal(err)
		}
		if tk.State == api.StateSeeding {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the 1 GiB task is %s after 5 min, want seeding", tk.State)
		}
		time.Sleep(100 * time.Millisecond) // polling a state the daemon reaches by itself
	}

	get := func() time.Duration {
		t0 := time.Now()
		if _, err := c.GetTask(ctx, smallID); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	var idle []time.Duration
	for range 2000 {
		idle = append(idle, get())
	}
	var moving []time.Duration
	dirs2 := []string{other, big.Root}
	b.ResetTimer()
	for i := range b.N {
		moved := make(chan error, 1)
		go func() {
			_, err := c.MoveTask(ctx, bigID, dirs2[i%2])
			moved <- err
		}()
	wait:
		for {
			select {
			case err := <-moved:
				if err != nil {
					b.Fatalf("move: %v", err)
				}
				break wait
			default:
				moving = append(moving, get())
			}
		}
	}
	b.StopTimer()
	report := func(name string, ds []time.Duration) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
		b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
	}
	report("idle", idle)
	report("moving", moving)
	b.ReportMetric(float64(len(moving)), "gets-during-moves")
}

func add(b *testing.B, c interface {
	AddTask(context.Context, api.TaskAddParams) (api.TaskAddResult, error)
}, tr *enginetest.Torrent, dir string) string {
	b.Helper()
	res, err := c.AddTask(context.Background(), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), DownloadDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	return res.TaskID
}
