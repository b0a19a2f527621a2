package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Intake of torrents that no one here wrote: every creator available here
// makes a torrent of every content shape, and each one is added through
// the API — as .torrent data, and as a magnet whose metadata comes from
// the seeder — and downloaded from a libtorrent seeder on loopback, byte
// for byte.

// intakeShape is content to make torrents of.
type intakeShape struct {
	label   string
	content enginetest.Content
}

func intakeShapes() []intakeShape {
	many := make([]enginetest.File, 1000)
	rng := rand.New(rand.NewPCG(12, 1000))
	for i := range many {
		many[i] = enginetest.File{
			Path: fmt.Sprintf("d%d/e%d/f%04d.dat", i%7, i%3, i),
			Size: 1 + rng.Int64N(2500),
		}
	}
	return []intakeShape{
		{"one file", enginetest.Content{Name: "one.bin", Size: 1<<20 + 4321, Seed: 1}},
		{"3 uneven files", enginetest.Content{Name: "three", Seed: 2, Files: []enginetest.File{
			{Path: "a.bin", Size: 700_001}, {Path: "b.txt", Size: 1}, {Path: "c/d.bin", Size: 2_300_017},
		}}},
		{"1,000 small files in nested folders", enginetest.Content{Name: "many", Seed: 3, Files: many}},
		{"a file of 0 bytes among others", enginetest.Content{Name: "zero", Seed: 4, Files: []enginetest.File{
			{Path: "a.bin", Size: 100_000}, {Path: "empty", Size: 0}, {Path: "sub/c.bin", Size: 300_001},
		}}},
		{"UTF-8 names", enginetest.Content{Name: "Ünïcødé 日本", Seed: 5, Files: []enginetest.File{
			{Path: "Ελληνικά/αρχείο.txt", Size: 12_345}, {Path: "emoji 🎵.bin", Size: 77_777}, {Path: "中文/文件.dat", Size: 5},
		}}},
	}
}

// intakeCreator makes a .torrent of the file or folder at path, written
// to out. Piece sizes differ between the v1 creators so that no two make
// the same info dictionary.
type intakeCreator struct {
	name string
	make func(ctx context.Context, t *testing.T, path, out string) error
	// pads: its torrents of several files have BEP 47 pad files.
	pads bool
	// v2: its torrents have v2 metadata; v2only: and no v1 metadata.
	v2, v2only bool
}

func libtorrentCreator(kind, piece string) func(context.Context, *testing.T, string, string) error {
	return func(ctx context.Context, t *testing.T, path, out string) error {
		return run(ctx, enginetest.LibtorrentPython, enginetest.LibtorrentScript(t), "make", path, out, kind, piece)
	}
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

var intakeCreators = []intakeCreator{
	{name: "libtorrent v1", make: libtorrentCreator("v1", "32768")},
	{name: "libtorrent v1 with pad files", make: libtorrentCreator("v1pad", "16384"), pads: true},
	{name: "libtorrent hybrid (default)", make: libtorrentCreator("hybrid", "0"), pads: true, v2: true},
	{name: "libtorrent v2 only", make: libtorrentCreator("v2", "0"), v2: true, v2only: true},
	{name: "mktorrent", make: func(ctx context.Context, t *testing.T, path, out string) error {
		return run(ctx, "mktorrent", "-d", "-l", "16", "-o", out, path)
	}},
	{name: "transmission-create", make: func(ctx context.Context, t *testing.T, path, out string) error {
		return run(ctx, "transmission-create", "-s", "128", "-o", out, path)
	}},
	{name: "engine metainfo builder", make: func(ctx context.Context, t *testing.T, path, out string) error {
		return os.WriteFile(out, enginetest.Build(t, path, 256<<10), 0o644)
	}},
}

// cannotMake lists the shapes a creator is known not to make: Transmission
// 3.00 leaves files of 0 bytes out of its torrents. Any other creator
// leaving a file out fails the test.
var cannotMake = map[[2]string]string{
	{"transmission-create", "a file of 0 bytes among others"}: "transmission-create leaves files of 0 bytes out",
}

// Refusals: what a valid torrent that Lodestone cannot download yet is
// refused with (api.CodeUnsupported), by .torrent and by magnet.
const (
	refusedV2Only    = "BEP 52 v2-only"
	refusedEmptyFile = "empty file after other files"
)

// cannotDownload lists the torrents refused though valid: a v2-only torrent
// (no v1 info-hash to name its task by), and a torrent with v2 metadata
// with an empty file after other files, on which the engine (v1.62.0)
// panics.
func cannotDownload(cr intakeCreator, sh intakeShape) string {
	switch {
	case cr.v2only:
		return refusedV2Only
	case cr.v2 && slices.ContainsFunc(sh.content.Files, func(f enginetest.File) bool { return f.Size == 0 }):
		return refusedEmptyFile
	}
	return ""
}

// intakeCase is one creator's torrent of one shape.
type intakeCase struct {
	creator intakeCreator
	shape   intakeShape
	src     *enginetest.Torrent // the content (Root/Name), and tr.MetaInfo of the creator
	mi      *enginetest.MetaInfo
	dir     string // download dir of its task, relative to the daemon's
	refused string // what its refusal says, "" when it downloads
}

func (c intakeCase) String() string { return c.creator.name + " / " + c.shape.label }

func TestIntakeFromEveryCreator(t *testing.T) {
	for _, bin := range []string{"mktorrent", "transmission-create"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (scripts/test installs it from Debian): %v", bin, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	torrents := t.TempDir()

	var cases, refused []intakeCase
	seen := map[string]string{} // info-hash → case
	for si, sh := range intakeShapes() {
		src := enginetest.Generate(t, sh.content)
		want := contentPaths(sh.content)
		for ci, cr := range intakeCreators {
			c := intakeCase{creator: cr, shape: sh, dir: fmt.Sprintf("s%d-c%d", si, ci)}
			out := filepath.Join(torrents, c.dir+".torrent")
			if err := cr.make(ctx, t, filepath.Join(src.Root, src.Name), out); err != nil {
				t.Fatalf("%s: %v", c, err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			c.mi = enginetest.Parse(t, data)
			got, pads := c.mi.DataFiles()
			slices.Sort(got)
			if !slices.Equal(got, want) {
				why, known := cannotMake[[2]string{cr.name, sh.label}]
				if !known {
					t.Fatalf("%s: the torrent lists %d files, the content has %d", c, len(got), len(want))
				}
				t.Logf("%s: not downloaded, this creator cannot make this shape (%s)", c, why)
				continue
			}
			if cr.pads && len(want) > 1 && pads == 0 {
				t.Fatalf("%s: no pad files: the BEP 47 case is not covered", c)
			}
			c.src = &enginetest.Torrent{Root: src.Root, Name: src.Name, MetaInfo: data, InfoHash: c.mi.InfoHash()}
			if c.refused = cannotDownload(cr, sh); c.refused != "" {
				refused = append(refused, c)
				continue
			}
			if other, dup := seen[c.src.InfoHash]; dup {
				t.Fatalf("%s makes the same torrent as %s: give it another piece size", c, other)
			}
			seen[c.src.InfoHash] = c.String()
			cases = append(cases, c)
			t.Logf("%s: %s, %d pad files", c, c.src.InfoHash, pads)
		}
	}

	// One libtorrent seeder for every torrent.
	var list strings.Builder
	for _, c := range append(slices.Clone(cases), refused...) {
		if !c.creator.v2only { // libtorrent would serve it, but no magnet names it
			fmt.Fprintf(&list, "%s\t%s\n", filepath.Join(torrents, c.dir+".torrent"), c.src.Root)
		}
	}
	listFile := filepath.Join(torrents, "seed.list")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := enginetest.LibtorrentPeer(t, ctx, "seed", listFile, "-")
	seederAddr := "127.0.0.1:" + strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
	enginetest.WaitLine(t, lines, "seeding", 120*time.Second)
	tracker := enginetest.StartTracker(t, seederAddr)

	t.Run("refused", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		for _, ic := range refused {
			_, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(ic.src.MetaInfo)})
			checkRefused(t, ic.String()+" (.torrent)", err, ic.refused)
			if ic.creator.v2only {
				magnet := "magnet:?xt=urn:btmh:1220" + ic.mi.InfoHashV2() + "&x.pe=" + seederAddr
				_, err = c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: magnet})
				checkRefused(t, ic.String()+" (magnet)", err, ic.refused)
				continue
			}
			// A btih magnet is valid until its metadata arrives: then
			// the task stops in error, saying why, and the daemon lives.
			magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", ic.src.InfoHash, seederAddr)
			res, err := c.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: magnet})
			if err != nil {
				t.Fatalf("%s (magnet): %v", ic, err)
			}
			waitUntilAPI(t, ic.String()+" (magnet) in error", 60*time.Second, func() bool {
				task, err := c.GetTask(ctxT(t, 10*time.Second), res.TaskID)
				if err != nil {
					t.Fatal(err)
				}
				return task.State == api.StateError && strings.Contains(task.Error, ic.refused)
			})
		}
		if len(refused) != len(intakeShapes())+1 {
			t.Errorf("%d torrents refused, want one v2-only per shape and the hybrid with an empty file", len(refused))
		}
	})

	for _, by := range []string{"torrent", "magnet"} {
		t.Run("by "+by, func(t *testing.T) {
			d := daemontest.Start(t, daemontest.Options{})
			c := d.Client(t)
			ids := make(map[string]intakeCase, len(cases))
			for _, ic := range cases {
				p := api.TaskAddParams{Type: api.TaskTypeMagnet, DownloadDir: ic.dir,
					Data: fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=%s", ic.src.InfoHash, seederAddr)}
				if by == "torrent" {
					p.Type = api.TaskTypeTorrent
					p.Data = base64.StdEncoding.EncodeToString(ic.mi.WithTrackers(tracker.URL))
				}
				res, err := c.AddTask(ctxT(t, 30*time.Second), p)
				if err != nil {
					t.Fatalf("%s: task.add: %v", ic, err)
				}
				if res.TaskID != ic.src.InfoHash {
					t.Fatalf("%s: task %s, want the info-hash %s", ic, res.TaskID, ic.src.InfoHash)
				}
				ids[res.TaskID] = ic
			}
			waitAllFinished(t, c, ids, 3*time.Minute)
			for id, ic := range ids {
				checkIntake(t, c, d, id, ic)
			}
		})
	}
}

// contentPaths returns the paths of c's files relative to its folder ("" for
// a single file), sorted.
func contentPaths(c enginetest.Content) []string {
	if len(c.Files) == 0 {
		return []string{""}
	}
	var out []string
	for _, f := range c.Files {
		out = append(out, f.Path)
	}
	slices.Sort(out)
	return out
}

func checkRefused(t *testing.T, what string, err error, why string) {
	t.Helper()
	var ae *api.Error
	if !asCode(err, &ae, api.CodeUnsupported) || !strings.Contains(ae.Message, why) {
		t.Errorf("%s: %v, want unsupported_torrent saying %q", what, err, why)
	}
}

// waitAllFinished waits for task.finished of every task in ids.
func waitAllFinished(t *testing.T, c *client.Client, ids map[string]intakeCase, timeout time.Duration) {
	t.Helper()
	left := make(map[string]bool, len(ids))
	for id := range ids {
		left[id] = true
	}
	deadline := time.After(timeout)
	for len(left) > 0 {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection ended: %v", c.Err())
			}
			var d api.TaskFinishedData
			if ev.Name == api.EventTaskFinished && json.Unmarshal(ev.Data, &d) == nil {
				delete(left, d.TaskID)
			}
		case <-deadline:
			var names []string
			for id := range left {
				names = append(names, ids[id].String())
			}
			slices.Sort(names)
			t.Fatalf("not finished within %v: %s", timeout, strings.Join(names, "; "))
		}
	}
}

// checkIntake compares task id's data with its source, and what the API
// says of it with the data files alone: no pad file is listed, counted
// or on disk.
func checkIntake(t *testing.T, c *client.Client, d *daemontest.Daemon, id string, ic intakeCase) {
	t.Helper()
	dir := filepath.Join(d.Dirs.Download, ic.dir)
	enginetest.SameFiles(t, ic.src, dir)
	var size int64
	for _, f := range ic.shape.content.Files {
		size += f.Size
	}
	if len(ic.shape.content.Files) == 0 {
		size = ic.shape.content.Size
	}
	ctx := ctxT(t, 30*time.Second)
	task, err := c.GetTask(ctx, id)
	if err != nil {
		t.Fatalf("%s: task.get: %v", ic, err)
	}
	if task.Size != size || task.Completed != size || task.State != api.StateSeeding {
		t.Errorf("%s: size %d, completed %d, state %s; want %d, %d, seeding", ic, task.Size, task.Completed, task.State, size, size)
	}
	files, err := c.TaskFiles(ctx, id)
	if err != nil {
		t.Fatalf("%s: task.files: %v", ic, err)
	}
	want := contentPaths(ic.shape.content)
	var got []string
	for _, f := range files {
		if f.Completed != f.Size {
			t.Errorf("%s: %s has %d of %d bytes", ic, f.Path, f.Completed, f.Size)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f.Path, ic.src.Name), "/")
		got = append(got, rel)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: task.files lists %q, want %q", ic, got, want)
	}
	// Nothing but the content on disk: no pad file, no .pad folder.
	if err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(p, ".pad") {
			t.Errorf("%s: %s is on disk", ic, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
