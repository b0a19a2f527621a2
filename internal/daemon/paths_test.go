package daemon_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Names a torrent author chose are made safe on disk, and task.files lists
// the names as they are on disk.
func TestHostileNamesSanitised(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "evil\u202Egpj.exe", Seed: 31, Files: []enginetest.File{
		{Path: "CON/x.txt", Size: 5000},
		{Path: "bell\x07.txt", Size: 7000},
		{Path: "Dup", Size: 100},
		{Path: "dup", Size: 200},
	}})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	files, err := c.TaskFiles(ctxT(t, 5*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	// Generate lists files sorted by path.
	want := []string{"evil_gpj.exe/_CON/x.txt", "evil_gpj.exe/Dup", "evil_gpj.exe/bell_.txt", "evil_gpj.exe/dup (2)"}
	if !slices.Equal(got, want) {
		t.Fatalf("task.files paths %q, want %q", got, want)
	}
	src := []string{"CON/x.txt", "Dup", "bell\x07.txt", "dup"}
	for i, p := range want {
		a, err1 := os.ReadFile(filepath.Join(tr.Root, tr.Name, src[i]))
		b, err2 := os.ReadFile(filepath.Join(d.Dirs.Download, p))
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s: %v %v, contents differ from the source", p, err1, err2)
		}
	}
	if _, err := os.Lstat(filepath.Join(d.Dirs.Download, tr.Name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unsanitised name exists on disk: %v", err)
	}
}

// A symlink planted in the download dir where a task's folder goes is
// refused: task.add answers 103 for a .torrent, a magnet's task goes to
// state error when its metadata arrives, and nothing is written through
// the link.
func TestPlantedSymlink(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	target := t.TempDir()
	c := d.Client(t)

	tr := enginetest.Generate(t, enginetest.Content{Name: "victim.d", Seed: 32, Files: []enginetest.File{{Path: "authorized_keys", Size: 3000}}})
	if err := os.Symlink(target, filepath.Join(d.Dirs.Download, tr.Name)); err != nil {
		t.Fatal(err)
	}
	_, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo)})
	var ae *api.Error
	if !asCode(err, &ae, api.CodeInvalidParams) || !strings.Contains(ae.Message, "symbolic link") {
		t.Fatalf("task.add over a planted symlink: %v, want 103 naming the symlink", err)
	}

	tr2 := enginetest.Generate(t, enginetest.Content{Name: "victim2.d", Seed: 33, Files: []enginetest.File{{Path: "authorized_keys", Size: 3000}}})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr2)
	if err := os.Symlink(target, filepath.Join(d.Dirs.Download, tr2.Name)); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr2.Magnet([]string{seeder.Addr}))
	ev := waitEvent(t, c, api.EventTaskError, 30*time.Second, forTask(res.TaskID))
	if te := decode[api.TaskErrorData](t, ev.Data); !strings.Contains(te.Error, "symbolic link") {
		t.Errorf("task.error %q, want it to name the symlink", te.Error)
	}
	if ents, err := os.ReadDir(target); err != nil || len(ents) != 0 {
		t.Fatalf("written through the planted symlink: %v (%v)", ents, err)
	}
}
