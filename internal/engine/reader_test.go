package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// readerEngine is an engine for a reader test, closed when it ends
// unless closeNow closed it first (Engine.Close is not idempotent).
func readerEngine(t *testing.T) Engine {
	e, _ := readerEngineCloser(t, testCore())
	return e
}

func readerEngineCloser(t *testing.T, core string) (e Engine, closeNow func() error) {
	t.Helper()
	e, err := New(Config{Core: core, DownloadDir: t.TempDir(), StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	closeNow = func() (err error) {
		once.Do(func() { err = e.Close() })
		return err
	}
	t.Cleanup(func() { closeNow() })
	return e, closeNow
}

// addStopped adds tr (with its metadata) to e, told about peers, with
// download not allowed yet.
func addStopped(t *testing.T, e Engine, tr *enginetest.Torrent, peers ...string) Torrent {
	t.Helper()
	spec, err := ParseTorrent(tr.MetaInfo)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := e.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	<-tt.GotInfo()
	tt.AddPeers(peers)
	return tt
}

// signal returns a SetOnWait function and the channel it signals, once.
func signal() (func(), chan struct{}) {
	c := make(chan struct{}, 1)
	return func() {
		select {
		case c <- struct{}{}:
		default:
		}
	}, c
}

type readResult struct {
	b   []byte
	err error
}

func readAllAsync(r io.Reader) chan readResult {
	c := make(chan readResult, 1)
	go func() {
		b, err := io.ReadAll(r)
		c <- readResult{b, err}
	}()
	return c
}

func within(t *testing.T, d time.Duration, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
}

func source(t *testing.T, tr *enginetest.Torrent, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.Root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A read of bytes not downloaded yet waits while download is not allowed
// (a paused task) — with nothing downloaded it cannot have finished — and
// completes, with the source's bytes, once download is allowed: woken by
// the allowing itself, the safety re-check being set to an hour. Then
// ranges read after seeks match too, and FileIndex finds files by their
// task.files path only.
func TestFileReaderWaitsThenReads(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(81))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	e := readerEngine(t)
	tt := addStopped(t, e, tr, seeder.Addr)

	index, size, ok := tt.FileIndex("multi/z.bin")
	if !ok || index != 4 || size != 1_234_567 {
		t.Fatalf("FileIndex(multi/z.bin) = %d, %d, %v", index, size, ok)
	}
	for _, p := range []string{"z.bin", "/multi/z.bin", "multi//z.bin", "multi/./z.bin", "multi/dir/../z.bin", "multi\\z.bin", "multi", "multi/dir"} {
		if _, _, ok := tt.FileIndex(p); ok {
			t.Errorf("FileIndex(%q) found a file", p)
		}
	}

	fr, err := tt.OpenFile(context.Background(), index)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	onWait, waiting := signal()
	fr.SetOnWait(onWait)
	onRefused, refused := signal()
	ar, onAnacrolix := fr.(*anacrolixReader)
	if onAnacrolix { // its engine refuses the read at once; it waits after that
		ar.retry = time.Hour
		ar.onRefused = onRefused
	}
	res := readAllAsync(fr)
	within(t, 10*time.Second, "the read reaching a wait", waiting)
	if onAnacrolix {
		within(t, 10*time.Second, "the engine refusing the read", refused)
	}
	if c := tt.FileStats()[index].Completed; c != 0 {
		t.Fatalf("%d bytes verified while download is not allowed", c)
	}
	select {
	case r := <-res:
		t.Fatalf("read ended while download was not allowed: %d bytes, %v", len(r.b), r.err)
	default:
	}
	tt.Start()
	var r readResult
	select {
	case r = <-res:
	case <-time.After(60 * time.Second):
		t.Fatal("read did not complete within 60 s of allowing download")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := source(t, tr, "multi/z.bin")
	if !bytes.Equal(r.b, want) {
		t.Fatalf("read %d bytes differing from the source (%d bytes)", len(r.b), len(want))
	}

	// Seek and read ranges of every non-empty file.
	for i, f := range []struct {
		path string
		size int64
	}{{"multi/a.bin", 100_003}, {"multi/dir/b.bin", 65_536}, {"multi/dir/sub/c.txt", 7}, {"multi/z.bin", 1_234_567}} {
		idx, _, ok := tt.FileIndex(f.path)
		if !ok {
			t.Fatalf("no %s", f.path)
		}
		src := source(t, tr, f.path)
		fr, err := tt.OpenFile(context.Background(), idx)
		if err != nil {
			t.Fatal(err)
		}
		if fr.Size() != f.size {
			t.Errorf("%s: size %d", f.path, fr.Size())
		}
		for _, off := range []int64{f.size - 1, f.size / 2, 0, f.size - 3} {
			if off < 0 {
				continue
			}
			if _, err := fr.Seek(off, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, min(40_000, f.size-off))
			if _, err := io.ReadFull(fr, got); err != nil {
				t.Fatalf("%s at %d: %v", f.path, off, err)
			}
			if !bytes.Equal(got, src[off:off+int64(len(got))]) {
				t.Errorf("%s at %d: bytes differ", f.path, off)
			}
		}
		if n, err := fr.Read(make([]byte, 10)); i == 0 && (n != 0 || err != io.EOF) {
			// a.bin: the last read ended at size-3+3 = size.
			t.Errorf("read at the end: %d, %v", n, err)
		}
		fr.Close()
	}
	if _, err := tt.OpenFile(context.Background(), 5); err == nil {
		t.Error("OpenFile(5) of a 5-file torrent succeeded")
	}
	empty, _, _ := tt.FileIndex("multi/dir/empty")
	fr, err = tt.OpenFile(context.Background(), empty)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := fr.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Errorf("empty file: %d, %v", n, err)
	}
	fr.Close()
}

// A waiting read ends, never hangs: when its context ends, when the reader
// is closed from another goroutine, when the torrent is dropped (task
// removed or moved) and when the engine closes. Nothing is ever
// downloaded here (download is not allowed), so every read waits.
func TestFileReaderEnds(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(82))
	open := func(t *testing.T, e Engine, ctx context.Context) (Torrent, FileReader, chan readResult) {
		tt := addStopped(t, e, tr)
		fr, err := tt.OpenFile(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		onWait, waiting := signal()
		fr.SetOnWait(onWait)
		res := readAllAsync(fr)
		within(t, 10*time.Second, "the read reaching a wait", waiting)
		return tt, fr, res
	}
	result := func(t *testing.T, res chan readResult) error {
		t.Helper()
		select {
		case r := <-res:
			if len(r.b) != 0 {
				t.Errorf("read %d bytes that were never downloaded", len(r.b))
			}
			return r.err
		case <-time.After(10 * time.Second):
			t.Fatal("the read did not end within 10 s")
			return nil
		}
	}
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		_, fr, res := open(t, readerEngine(t), ctx)
		defer fr.Close()
		cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		_, fr, res := open(t, readerEngine(t), context.Background())
		if err := fr.Close(); err != nil {
			t.Fatal(err)
		}
		if err := result(t, res); !errors.Is(err, ErrReaderClosed) {
			t.Errorf("err = %v, want ErrReaderClosed", err)
		}
		if err := fr.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := fr.Read(make([]byte, 1)); !errors.Is(err, ErrReaderClosed) {
			t.Errorf("Read after Close: %v", err)
		}
	})
	t.Run("drop", func(t *testing.T) {
		tt, fr, res := open(t, readerEngine(t), context.Background())
		tt.Drop()
		if err := result(t, res); !errors.Is(err, ErrTorrentClosed) {
			t.Errorf("err = %v, want ErrTorrentClosed", err)
		}
		if err := fr.Close(); err != nil {
			t.Errorf("Close after drop: %v", err)
		}
		if _, err := tt.OpenFile(context.Background(), 4); !errors.Is(err, ErrTorrentClosed) {
			t.Errorf("OpenFile after drop: %v", err)
		}
	})
	t.Run("engine close", func(t *testing.T) {
		e, closeNow := readerEngineCloser(t, testCore())
		_, fr, res := open(t, e, context.Background())
		if err := closeNow(); err != nil {
			t.Fatal(err)
		}
		if err := result(t, res); !errors.Is(err, ErrTorrentClosed) {
			t.Errorf("err = %v, want ErrTorrentClosed", err)
		}
		fr.Close()
	})
}

// A reader's pieces outrank what the service sets: file priorities (even
// skip) and sequential mode's high pieces, set again as the service's
// poll does. Closing the reader gives the pieces back to their file.
func TestFileReaderPriorityWins(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "prio.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 83})
	// Piece priorities as anacrolix's client keeps them.
	e, _ := readerEngineCloser(t, CoreAnacrolix)
	tt := addStopped(t, e, tr) // no peer: nothing completes
	// A piece being checked has no priority: wait for the initial check.
	deadline := time.Now().Add(10 * time.Second)
	for tt.Stats().Checking {
		if time.Now().After(deadline) {
			t.Fatal("still checking after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tt.SetPriorities(map[int]Priority{0: PrioritySkip})
	fr, err := tt.OpenFile(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	const at = 3 << 20 // piece 48; readahead covers pieces 48..63
	if _, err := fr.Seek(at, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	res := readAllAsync(fr)
	prio := func(i int) torrent.PiecePriority { return tt.(*anacrolixTorrent).t.PieceState(i).Priority }
	deadline = time.Now().Add(10 * time.Second)
	for prio(48) != torrent.PiecePriorityNow {
		if time.Now().After(deadline) {
			t.Fatalf("piece under the reader: priority %v, want now", prio(48))
		}
		time.Sleep(10 * time.Millisecond)
	}
	check := func(when string, file torrent.PiecePriority) {
		t.Helper()
		if p := prio(48); p != torrent.PiecePriorityNow {
			t.Errorf("%s: piece 48 priority %v, want now", when, p)
		}
		for i := 49; i < 64; i++ {
			if p := prio(i); p != torrent.PiecePriorityReadahead {
				t.Errorf("%s: piece %d priority %v, want readahead", when, i, p)
			}
		}
		if p := prio(47); p != file {
			t.Errorf("%s: piece 47 (not read) priority %v, want %v (the file's)", when, p, file)
		}
	}
	check("file skipped", torrent.PiecePriorityNone)
	// What the service does: sequential mode raises the first missing
	// wanted pieces; priorities are set again on resume and task.set.
	tt.SetPriorities(map[int]Priority{0: PriorityHigh})
	tt.PrioritizeSequential()
	check("file high, sequential", torrent.PiecePriorityHigh)
	if p := prio(0); p != torrent.PiecePriorityHigh {
		t.Errorf("piece 0 priority %v, want high (the file's)", p)
	}
	tt.ClearSequential()
	tt.SetPriorities(map[int]Priority{0: PrioritySkip})
	check("sequential cleared, skipped again", torrent.PiecePriorityNone)
	fr.Close()
	<-res
	if p := prio(48); p != torrent.PiecePriorityNone {
		t.Errorf("after Close: piece 48 priority %v, want none (skipped)", p)
	}
}

// Streaming a skipped file downloads what is read and its readahead, not
// the rest of the file.
func TestFileReaderSkippedFile(t *testing.T) {
	const size = 24 << 20
	tr := enginetest.Generate(t, enginetest.Content{Name: "skip.bin", Size: size, PieceLength: 256 << 10, Seed: 84})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	e := readerEngine(t)
	tt := addStopped(t, e, tr, seeder.Addr)
	tt.SetPriorities(map[int]Priority{0: PrioritySkip}) // allows download
	fr, err := tt.OpenFile(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100_000)
	if _, err := io.ReadFull(fr, got); err != nil {
		t.Fatal(err)
	}
	fr.Close()
	if !bytes.Equal(got, source(t, tr, "skip.bin")[:len(got)]) {
		t.Fatal("bytes differ from the source")
	}
	c := tt.FileStats()[0].Completed
	if c < int64(len(got)) {
		t.Errorf("completed %d, less than what was read", c)
	}
	// Only pieces up to the readahead (8 MiB) were ever wanted.
	if limit := int64(StreamReadahead + 2*(256<<10)); c > limit {
		t.Errorf("completed %d of a skipped file, more than the readahead allows (%d)", c, limit)
	}
}

// Reads of every size after seeks of every kind (inside and outside what
// the reader buffered) return the file's bytes at the position Seek
// reports.
func TestFileReaderSeeks(t *testing.T) {
	const size = 1_500_007
	tr := enginetest.Generate(t, enginetest.Content{Name: "seek.bin", Size: size, PieceLength: 32 << 10, Seed: 85})
	src := source(t, tr, "seek.bin")
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	e := readerEngine(t)
	tt := addStopped(t, e, tr, seeder.Addr)
	tt.Start()
	fr, err := tt.OpenFile(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	rng := rand.New(rand.NewPCG(85, 1))
	var pos int64
	for i := range 300 {
		var abs int64
		switch rng.IntN(4) {
		case 0:
			abs, err = fr.Seek(rng.Int64N(size+1), io.SeekStart)
		case 1:
			abs, err = fr.Seek(rng.Int64N(2*readBlock)-readBlock/2, io.SeekCurrent)
		case 2:
			abs, err = fr.Seek(-rng.Int64N(size+1), io.SeekEnd)
		case 3:
			abs = pos // no seek
		}
		if err != nil {
			continue // a seek before the start is refused; pos stays
		}
		pos = abs
		n := []int{1, 100, 32 << 10, readBlock - 1, readBlock, 3 * readBlock}[rng.IntN(6)]
		got := make([]byte, n)
		m, err := io.ReadFull(fr, got)
		want := src[min(pos, size):min(pos+int64(n), size)]
		if !bytes.Equal(got[:m], want) || (m < n) != (err != nil) {
			t.Fatalf("step %d: read %d at %d: got %d bytes (%v), want %d, equal=%v", i, n, pos, m, err, len(want), bytes.Equal(got[:m], want))
		}
		pos += int64(m)
	}
}
