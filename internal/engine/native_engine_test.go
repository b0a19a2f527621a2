package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The native core behind the Engine interface: what the daemon relies on
// beyond the core's own tests (internal/engine/native).

// testCore is the core the interface-level tests of this package run on:
// $LODESTONE_TEST_ENGINE, or the default (scripts/test runs them on both).
func testCore() string { return os.Getenv("LODESTONE_TEST_ENGINE") }

func startNative(t *testing.T, dl, state string) Engine {
	t.Helper()
	e, err := New(Config{Core: CoreNative, DownloadDir: dl, StateDir: state, PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func addSpec(t *testing.T, e Engine, spec Spec) Torrent {
	t.Helper()
	tt, err := e.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// A torrent downloads, its completion survives a restart (no hashing, no
// peer), and a recheck finds a corrupted piece and fetches it again.
func TestNativeDownloadRestartRecheck(t *testing.T) {
	const size = 1 << 20
	tr := enginetest.Generate(t, enginetest.Content{Name: "n.bin", Size: size, PieceLength: 32 << 10, Seed: 7})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dl, state := t.TempDir(), t.TempDir()
	spec, err := ParseTorrent(tr.MetaInfo)
	if err != nil {
		t.Fatal(err)
	}
	e := startNative(t, dl, state)
	tt := addSpec(t, e, spec)
	tt.AddPeers([]string{seeder.Addr})
	tt.Start()
	waitComplete(t, tt, size)
	enginetest.SameFiles(t, tr, dl)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tt.Closed():
	default:
		t.Fatal("torrent not closed with the engine")
	}

	e = startNative(t, dl, state)
	defer e.Close()
	tt = addSpec(t, e, spec)
	if st := tt.Stats(); st.Completed != size || st.Checking {
		t.Fatalf("after restart: %+v, want %d bytes verified at once", st, size)
	}

	f, err := os.OpenFile(filepath.Join(dl, "n.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("corrupt"), 100_000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := tt.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := tt.Stats(); st.Completed != size-32<<10 {
		t.Fatalf("after recheck: %d bytes verified, want all but one piece", st.Completed)
	}
	tt.AddPeers([]string{seeder.Addr})
	tt.Start()
	waitComplete(t, tt, size)
	enginetest.SameFiles(t, tr, dl)
}

// A magnet gets its metadata from a peer, then a reader streams the file
// while it downloads.
func TestNativeMagnetAndReader(t *testing.T) {
	const size = 3 << 20
	tr := enginetest.Generate(t, enginetest.Content{Name: "m.bin", Size: size, PieceLength: 64 << 10, Seed: 8})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dl := t.TempDir()
	e := startNative(t, dl, t.TempDir())
	defer e.Close()
	spec, err := ParseMagnet(tr.Magnet([]string{seeder.Addr}))
	if err != nil {
		t.Fatal(err)
	}
	tt := addSpec(t, e, spec)
	select {
	case <-tt.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatal("no metadata")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := tt.OpenFile(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != size {
		t.Fatalf("reader size %d, want %d", r.Size(), size)
	}
	tt.Start()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(tr.Root, "m.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("streamed bytes differ from the source")
	}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read at the end: %v, want EOF", err)
	}
	tt.Drop()
	if _, err := tt.OpenFile(ctx, 0); err == nil {
		t.Fatal("OpenFile on a dropped torrent worked")
	}
}
