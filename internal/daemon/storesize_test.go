package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Once its tasks are removed, the store shrinks back at the next start,
// and /metrics reports its size and free bytes (issue 15, item 17: the
// file used to keep its largest size for good).
func TestStoreShrinksAtRestart(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)

	// 80 torrents of about 100 KiB each, as big .torrents are: padded
	// with a key of their own after the info dictionary, which parsers
	// skip.
	base := enginetest.Parse(t, enginetest.Generate(t, enginetest.Content{Name: "base.bin", Size: 40_000, Seed: 171}).MetaInfo)
	pad := fmt.Sprintf("5:zzpad%d:%s", 100<<10, strings.Repeat("x", 100<<10))
	const n = 80
	data := make([]string, n)
	for i := range data {
		mi := base.WithName(fmt.Sprintf("big-%03d.iso", i))
		padded := string(mi[:len(mi)-1]) + pad + "e"
		data[i] = base64.StdEncoding.EncodeToString([]byte(padded))
	}
	ids := make([]string, n)
	eachConcurrently(t, n, func(ctx context.Context, i int) error {
		res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data[i], Paused: true})
		ids[i] = res.TaskID
		return err
	})
	kept := ids[n-1]
	eachConcurrently(t, n-1, func(ctx context.Context, i int) error { return c.RemoveTask(ctx, ids[i], false) })

	path := filepath.Join(dirs.Data, store.FileName)
	mf := scrape(t, d)
	size, _ := value(mf, "lodestone_store_size_bytes")
	free, _ := value(mf, "lodestone_store_free_bytes")
	before := fileSize(t, path)
	t.Logf("after %d adds and %d removals: %d bytes (metrics: %v bytes, %v free)", n, n-1, before, size, free)
	if size != float64(before) || free < 4<<20 || free > size {
		t.Errorf("lodestone_store_size_bytes %v, lodestone_store_free_bytes %v; want %d, and over 4 MiB free", size, free, before)
	}
	d.Stop(t)

	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	after := fileSize(t, path)
	t.Logf("started again: %d bytes", after)
	if after > before/4 {
		t.Errorf("the store is %d bytes after the restart, %d before: want it compacted to a quarter at most", after, before)
	}
	mf = scrape(t, d)
	if size, ok := value(mf, "lodestone_store_size_bytes"); !ok || size != float64(after) {
		t.Errorf("lodestone_store_size_bytes %v (present %v) after the restart, want %d", size, ok, after)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	task, err := d.Client(t).GetTask(ctx, kept)
	if err != nil || task.State != api.StatePaused || task.Name != "big-079.iso" {
		t.Errorf("the task kept: %+v, %v; want it paused as it was", task, err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
