package daemon_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Metadata only, and export (issue 17).

// bytesUnder sums the sizes of the regular files under dir.
func bytesUnder(t *testing.T, dir string) (files int, size int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		files++
		size += fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, size
}

// A metadata_only magnet fetches its metadata from the seeder, stays
// paused with no file created, and after a file selection and task.resume
// downloads the chosen file. multiFile: a.bin 100003, dir/b.bin 65536,
// dir/sub/c.txt 7, dir/empty 0, z.bin 1234567, in 32 KiB pieces.
func TestMetadataOnlyMagnet(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(171))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	magnet := tr.Magnet([]string{seeder.Addr})
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet,
		Data: magnet, MetadataOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused || task.Size == 0 {
		t.Fatalf("after the metadata: %+v, want paused with its size known", task)
	}
	// Durable: after a restart it is still paused, metadata known.
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = d.Client(t)
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused || task.Size == 0 {
		t.Fatalf("after a restart: %+v, want paused with its size known", task)
	}
	addMagnet(t, c, magnet) // tell it the seeder again
	files := taskFiles(t, c, res.TaskID)
	if len(files) != 5 {
		t.Fatalf("task.files = %+v", files)
	}
	if n, size := bytesUnder(t, d.Dirs.Download); n != 0 || size != 0 {
		t.Fatalf("metadata only: %d files, %d bytes on disk, want none", n, size)
	}
	// The export is possible now: the metadata is the seeder's.
	mi, err := c.Export(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if got := enginetest.Parse(t, mi).InfoHash(); got != res.TaskID {
		t.Errorf("exported info-hash %s, want %s", got, res.TaskID)
	}

	// Only a.bin.
	if _, err := c.SetTask(ctxT(t, 10*time.Second), api.TaskSetParams{TaskID: res.TaskID,
		FilePriorities: map[int]string{1: "skip", 2: "skip", 3: "skip", 4: "skip"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.ResumeTask(ctxT(t, 10*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	files = taskFiles(t, c, res.TaskID)
	if files[0].Completed != files[0].Size {
		t.Errorf("chosen file %+v not complete", files[0])
	}
	if z := files[4]; z.Completed >= z.Size {
		t.Errorf("skipped file %+v downloaded", z)
	}
}

// A metadata_only .torrent add is a paused task with nothing on disk,
// although its seeder is known.
func TestMetadataOnlyTorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(172))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), MetadataOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr})) // tell it the seeder
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused {
		t.Fatalf("task %+v: want paused", task)
	}
	if n, size := bytesUnder(t, d.Dirs.Download); n != 0 || size != 0 {
		t.Fatalf("metadata only: %d files, %d bytes on disk, want none", n, size)
	}
	if err := c.ResumeTask(ctxT(t, 10*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// task.export of a .torrent task returns the file as added; adding it
// again is the same task. libtorrent reads it and finds the same
// info-hash. A task without metadata yet cannot be exported.
func TestExportTorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(173))
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := c.Export(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mi, tr.MetaInfo) {
		t.Errorf("export differs from the .torrent added (%d bytes, want %d)", len(mi), len(tr.MetaInfo))
	}
	again, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(mi)})
	if err != nil || again.TaskID != res.TaskID {
		t.Errorf("re-adding the export: %+v, %v; want task %s", again, err, res.TaskID)
	}
	if got := libtorrentInfoHash(t, mi); got != res.TaskID {
		t.Errorf("libtorrent reads info-hash %s, want %s", got, res.TaskID)
	}

	// A magnet with no peer has no metadata: 203.
	other := enginetest.Generate(t, enginetest.Content{Name: "none.bin", Size: 1000, Seed: 174})
	m := addMagnet(t, c, other.Magnet(nil))
	var ae *api.Error
	if _, err := c.Export(ctxT(t, 10*time.Second), strings.ToUpper(m.TaskID)); !errors.As(err, &ae) || ae.Code != api.CodeTaskState ||
		!strings.Contains(ae.Message, "metadata of task "+m.TaskID+" has not arrived") {
		t.Errorf("export without metadata: %v, want 203 naming the metadata and the task", err)
	}
	if _, err := c.Export(ctxT(t, 10*time.Second), strings.Repeat("0", 40)); !errors.As(err, &ae) || ae.Code != api.CodeTaskNotFound {
		t.Errorf("export of an unknown task: %v, want not found", err)
	}
}

// task.export of a magnet task, once its metadata arrived, holds the
// info dictionary and the magnet's tracker; a second daemon adds it as
// the same info-hash, and libtorrent reads it.
func TestExportMagnet(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(175))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	const tracker = "http://127.0.0.1:1/announce"
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet,
		Data: tr.Magnet([]string{seeder.Addr}, tracker), MetadataOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	mi, err := c.Export(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mi, []byte(tracker)) {
		t.Errorf("export %q lacks the magnet's tracker", mi)
	}
	if got := libtorrentInfoHash(t, mi); got != res.TaskID {
		t.Errorf("libtorrent reads info-hash %s, want %s", got, res.TaskID)
	}
	d2 := daemontest.Start(t, daemontest.Options{})
	c2 := d2.Client(t)
	res2, err := c2.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(mi), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := stateOf(t, c, res.TaskID).Size; res2.TaskID != res.TaskID || res2.Size != want {
		t.Errorf("second daemon added %+v, want task %s of %d bytes", res2, res.TaskID, want)
	}
}

// libtorrentInfoHash returns the v1 info-hash libtorrent reads in the
// .torrent mi.
func libtorrentInfoHash(t *testing.T, mi []byte) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c",
		"import sys, libtorrent as lt; print(str(lt.torrent_info(sys.stdin.buffer.read()).info_hashes().v1))")
	cmd.Stdin = bytes.NewReader(mi)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("libtorrent refused the export: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}
