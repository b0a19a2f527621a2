package native

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Pieces written in random order, through files of odd sizes, pad files
// and empty files, land byte for byte, with direct I/O and without; the
// piece buffers are deliberately misaligned too (the bounce path), and
// reads race the writes.
func TestStorageLayout(t *testing.T) {
	for _, direct := range []bool{true, false} {
		for _, shift := range []int{0, 1} {
			name := map[bool]string{true: "direct", false: "buffered"}[direct]
			if shift > 0 {
				name += "-misaligned"
			}
			t.Run(name, func(t *testing.T) { testStorageLayout(t, direct, shift) })
		}
	}
}

func testStorageLayout(t *testing.T, direct bool, shift int) {
	dir := t.TempDir()
	files := []File{
		{Path: filepath.Join(dir, "a"), Length: 100_003},
		{Path: filepath.Join(dir, "pad1"), Length: 4093, Pad: true},
		{Path: filepath.Join(dir, "d/b"), Length: 1 << 20},
		{Path: filepath.Join(dir, "d/empty"), Length: 0},
		{Path: filepath.Join(dir, "d/e/c"), Length: 7},
		{Path: filepath.Join(dir, "z"), Length: 3*65536 + 4097},
	}
	var total int64
	for _, f := range files {
		total += f.Length
	}
	want := pieceData(int(total), 7)
	off := 0
	for _, f := range files {
		if f.Pad {
			clear(want[off : off+int(f.Length)])
		}
		off += int(f.Length)
	}
	s := newStorage(dir, files, nil, true, direct)
	defer s.close()
	const pl = 65536
	n := (int(total) + pl - 1) / pl
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() { // a reader racing the writer
		defer wg.Done()
		buf := make([]byte, pl)
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Before its piece is written the range is missing or
			// short: an error, which is right; the point is the race.
			s.readAt(buf[:1000], 99_000)
		}
	}()
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(n) {
		lo := i * pl
		hi := min(lo+pl, int(total))
		mem := alignedBytes(pl + shift)
		buf := mem[shift : shift+hi-lo]
		copy(buf, want[lo:hi])
		if err := s.writeAt(buf, int64(lo)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if err := s.finish(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, total)
	if err := s.readAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back differs from what was written")
	}
	off = 0
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		switch {
		case f.Pad:
			if !os.IsNotExist(err) {
				t.Errorf("pad file %s created", f.Path)
			}
		case err != nil:
			t.Error(err)
		case !bytes.Equal(data, want[off:off+int(f.Length)]):
			t.Errorf("%s differs (%d bytes, want %d)", f.Path, len(data), f.Length)
		}
		off += int(f.Length)
	}
}
