package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// BenchmarkTaskAdd measures a durable task.add round trip over the
// WebSocket (store commit with fsync included).
func BenchmarkTaskAdd(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	tr := enginetest.Generate(b, enginetest.Content{Name: "b.bin", Size: 1000, Seed: 1})
	meta := enginetest.Parse(b, tr.MetaInfo)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		// A distinct torrent each time: same content, another name.
		data := base64.StdEncoding.EncodeToString(meta.WithName(fmt.Sprintf("b%d.bin", i)))
		i++
		if _, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data, Paused: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskGet measures a small request's round trip on one
// connection.
func BenchmarkTaskGet(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	tr := enginetest.Generate(b, enginetest.Content{Name: "g.bin", Size: 1000, Seed: 2})
	res, err := c.AddTask(context.Background(), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.GetTask(context.Background(), res.TaskID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskList1000 lists 1,000 paused tasks, in full and with a
// two-field projection.
func BenchmarkTaskList1000(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	ctx := context.Background()
	addPausedTorrents(b, d, 1000)
	for _, bc := range []struct {
		name   string
		fields []string
	}{{"full", nil}, {"projected", []string{"name", "state"}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				tasks, err := c.ListTasksWith(ctx, api.TaskListParams{Fields: bc.fields})
				if err != nil || len(tasks) != 1000 {
					b.Fatal(len(tasks), err)
				}
			}
		})
	}
}

// BenchmarkDownload64MiB downloads 64 MiB from an in-process seeder on
// loopback (both in this process: they share the CPU) and reports MiB/s.
func BenchmarkDownload64MiB(b *testing.B) {
	const size = 64 << 20
	tr := enginetest.Generate(b, enginetest.Content{Name: "dl.bin", Size: size, PieceLength: 256 << 10, Seed: 4})
	seeder := enginetest.StartSeeder(b, enginetest.SeederOptions{}, tr)
	b.SetBytes(size)
	for b.Loop() {
		d := daemontest.Start(b, daemontest.Options{})
		c := d.Client(b)
		start := time.Now()
		res, err := c.AddTask(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr})})
		if err != nil {
			b.Fatal(err)
		}
		waitFinishedB(b, c, res.TaskID)
		b.ReportMetric(float64(size)/(1<<20)/time.Since(start).Seconds(), "MiB/s")
		d.Stop(b)
	}
}

func waitFinishedB(b *testing.B, c *client.Client, id string) {
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case ev := <-c.Events():
			if ev.Name == api.EventTaskFinished && forTask(id)(ev.Data) {
				return
			}
		case <-deadline:
			b.Fatal("no finish")
		}
	}
}

// BenchmarkHandshake: new authenticated connections per second (dial,
// token check, upgrade, one request, close), all from loopback.
func BenchmarkHandshake(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	ctx := context.Background()
	for b.Loop() {
		c, err := client.Dial(ctx, d.URL, daemontest.Token)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.ServerInfo(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestsParallel: small requests (task.get) from 64 concurrent
// connections; reports requests per second held and errors (must be 0).
func BenchmarkRequestsParallel(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	tr := enginetest.Generate(b, enginetest.Content{Name: "p.bin", Size: 1000, Seed: 5})
	setup := d.Client(b)
	res, err := setup.AddTask(context.Background(), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		b.Fatal(err)
	}
	var errs atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS (2) = 64 connections
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := client.Dial(context.Background(), d.URL, daemontest.Token)
		if err != nil {
			errs.Add(1)
			return
		}
		defer c.Close()
		for pb.Next() {
			if _, err := c.GetTask(context.Background(), res.TaskID); err != nil {
				errs.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(errs.Load()), "errors")
}

// BenchmarkRequestsOneConnection: small requests (task.get) pipelined on
// one connection by 64 goroutines sharing one client (the daemon runs up
// to 16 requests of a connection at once); reports requests per second.
func BenchmarkRequestsOneConnection(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	tr := enginetest.Generate(b, enginetest.Content{Name: "o.bin", Size: 1000, Seed: 6})
	res, err := c.AddTask(context.Background(), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		b.Fatal(err)
	}
	var errs atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS (2) = 64 callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetTask(context.Background(), res.TaskID); err != nil {
				errs.Add(1)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(errs.Load()), "errors")
}

// BenchmarkMetricsScrape1000 scrapes GET /metrics of a daemon with 1,000
// tasks (paused: each still an engine torrent).
func BenchmarkMetricsScrape1000(b *testing.B) {
	d := daemontest.Start(b, daemontest.Options{})
	addPausedTorrents(b, d, 1000)
	req, err := http.NewRequest("GET", "http://"+d.APIAddr()+"/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	var size int64
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatal(resp, err)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkIdleSeeding1000 is issue 13's goal 6 in the daemon: 1,000
// tasks seeding (their data already on disk, found by the check at
// add), no peer, no tracker: the CPU the daemon uses while idle, as a
// share of one core, on each engine core.
func BenchmarkIdleSeeding1000(b *testing.B) {
	const n = 1000
	for _, core := range []string{engine.CoreAnacrolix, engine.CoreNative} {
		b.Run(core, func(b *testing.B) {
			dirs := daemontest.NewDirs(b)
			base := enginetest.Generate(b, enginetest.Content{Name: "base.bin", Size: 64 << 10, Seed: 64})
			data, err := os.ReadFile(filepath.Join(base.Root, "base.bin"))
			if err != nil {
				b.Fatal(err)
			}
			mi := enginetest.Parse(b, base.MetaInfo)
			if err := os.MkdirAll(dirs.Download, 0o755); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if err := os.WriteFile(filepath.Join(dirs.Download, fmt.Sprintf("seed-%04d.bin", i)), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			d := daemontest.Start(b, daemontest.Options{Dirs: dirs, Engine: core})
			c := d.Client(b)
			ctx := context.Background()
			for i := range n {
				meta := base64.StdEncoding.EncodeToString(mi.WithName(fmt.Sprintf("seed-%04d.bin", i)))
				if _, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: meta}); err != nil {
					b.Fatal(err)
				}
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				tasks, err := c.ListTasksWith(ctx, api.TaskListParams{Fields: []string{"state"}})
				if err != nil {
					b.Fatal(err)
				}
				seeding := 0
				for _, t := range tasks {
					if t.State == api.StateSeeding {
						seeding++
					}
				}
				if seeding == n {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d tasks seeding after 2 min", seeding, n)
				}
				time.Sleep(200 * time.Millisecond)
			}
			// What is measured is the idle daemon: the last events and
			// store flushes of the adds settle first.
			time.Sleep(2 * time.Second)
			b.ResetTimer()
			var share float64
			for b.Loop() {
				c0, w0 := processCPU(), time.Now()
				time.Sleep(5 * time.Second) // the measured window
				share = float64(processCPU()-c0) / float64(time.Since(w0))
			}
			b.ReportMetric(100*share, "%core")
		})
	}
}

// processCPU is the CPU time this process (daemon and test) used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
