package daemon_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func TestDownloadTorrentSingleFile(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	tr := enginetest.Generate(t, enginetest.Content{Name: "single.bin", Size: 3_000_017, Seed: 1, Trackers: []string{tracker.URL}})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)

	res := addTorrent(t, c, tr)
	if res.TaskID != tr.InfoHash || res.Name != "single.bin" || res.Size != 3_000_017 {
		t.Fatalf("task.add = %+v, want id %s name single.bin size 3000017", res, tr.InfoHash)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	if tracker.Announces() == 0 {
		t.Error("the daemon never announced to the tracker")
	}

	task, err := c.GetTask(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != api.StateSeeding || task.Completed != task.Size || task.FinishedAt == "" {
		t.Errorf("after finish: %+v, want seeding with completed == size", task)
	}
}

func TestDownloadMagnetMultiFile(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(2))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)

	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	if res.TaskID != tr.InfoHash || res.Name != "multi" || res.Size != 0 {
		t.Fatalf("task.add = %+v, want id %s, name from dn, size 0", res, tr.InfoHash)
	}
	ev := waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	var md api.TaskMetadataData
	if err := json.Unmarshal(ev.Data, &md); err != nil {
		t.Fatal(err)
	}
	if want := int64(100_003 + 65_536 + 7 + 1_234_567); md.Size != want || md.Name != "multi" {
		t.Errorf("task.metadata = %+v, want size %d", md, want)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

func TestDownloadOverUTP(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "utp.bin", Size: 4 << 20, Seed: 3})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UTP: true}, tr)
	d := daemontest.Start(t, daemontest.Options{UTP: true})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

func TestDuplicateAdd(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "dup.bin", Size: 50_000, Seed: 4})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	first := addTorrent(t, c, tr)
	again := addTorrent(t, c, tr)
	viaMagnet := addMagnet(t, c, tr.Magnet(nil))
	if again != first || viaMagnet.TaskID != first.TaskID {
		t.Errorf("duplicate adds: %+v, %+v; want the first %+v", again, viaMagnet, first)
	}
	tasks, err := c.ListTasks(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 {
		t.Errorf("task.list has %d tasks, want 1", len(tasks))
	}
}
