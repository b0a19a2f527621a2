package main

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Shapes of generated content.
const (
	shapeSingle = "single" // one file of random bytes
	shapeMany   = "many"   // many files of random bytes, of uneven sizes, in nested folders
	shapeBig    = "big"    // one big file, mostly zeros plus random blocks
)

// genBlock is the unit of generated content: each block is either random
// (seeded by the run seed and the block index, so content is reproducible)
// or, in the big shape, zeros.
const genBlock = 1 << 20

// bigRandomEvery: in the big shape, one block in this many is random.
const bigRandomEvery = 16

// fileSpec is one file of the content.
type fileSpec struct {
	// Path is the file's path inside the torrent's folder; for a
	// single-file torrent it is just the name.
	Path []string `json:"path"`
	Size int64    `json:"size"`
	// SHA256 is the hex SHA-256 of the file's bytes, computed while
	// generating: what every download is checked against.
	SHA256 string `json:"sha256"`
}

// content is generated torrent data on disk plus its metainfo.
type content struct {
	Shape string `json:"shape"`
	// Name is the torrent's name: a file (single, big) or a folder (many).
	Name string `json:"name"`
	// Dir holds Name: a seeder's save path.
	Dir        string     `json:"-"`
	Multi      bool       `json:"multi"`
	Files      []fileSpec `json:"files,omitempty"`
	Total      int64      `json:"total"`
	PieceLen   int64      `json:"piece_length"`
	NumPieces  int        `json:"pieces"`
	RandomPart float64    `json:"random_fraction"`
	// Sparse says the zero blocks of the big shape were left as holes,
	// with -sparse or because the file system cannot preallocate (they
	// still read as zeros, and still hash).
	Sparse bool `json:"sparse,omitempty"`

	pieces []byte
	seed   uint64
	holes  bool // big: leave the zero ranges as holes (-sparse)
}

var errHoles = errors.New("holes asked for")

// plan lays out the files of a shape without writing anything.
func plan(shape string, total int64, nfiles int, seed uint64) (*content, error) {
	c := &content{Shape: shape, Total: total, seed: seed, RandomPart: 1}
	switch shape {
	case shapeSingle, shapeBig:
		c.Name = fmt.Sprintf("swarm-%s-%s.bin", shape, sizeName(total))
		c.Files = []fileSpec{{Path: []string{c.Name}, Size: total}}
		if shape == shapeBig {
			c.RandomPart = 1.0 / bigRandomEvery
		}
	case shapeMany:
		if nfiles < 2 || int64(nfiles) > total {
			return nil, fmt.Errorf("many: %d files of %d bytes in all: need 2 ≤ files ≤ bytes", nfiles, total)
		}
		c.Name = fmt.Sprintf("swarm-many-%s-%d", sizeName(total), nfiles)
		c.Multi = true
		// Uneven sizes: weights in [0.5, 1.5), scaled to the total; the
		// last file takes the remainder. Sizes are odd multiples of
		// nothing, so files straddle pieces.
		r := rand.New(rand.NewPCG(seed, 0x6d616e79))
		w := make([]float64, nfiles)
		var sum float64
		for i := range w {
			w[i] = 0.5 + r.Float64()
			sum += w[i]
		}
		var used int64
		for i := range nfiles {
			size := int64(float64(total) * w[i] / sum)
			if i == nfiles-1 {
				size = total - used
			}
			size = max(size, 1)
			used += size
			c.Files = append(c.Files, fileSpec{
				Path: []string{fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d.bin", i)},
				Size: size,
			})
		}
		if used != total {
			return nil, fmt.Errorf("many: sizes add up to %d, not %d", used, total)
		}
	default:
		return nil, fmt.Errorf("unknown shape %q (want single, many or big)", shape)
	}
	return c, nil
}

// autoPieceLen is the smallest power of two ≥ 256 KiB that keeps the
// torrent at ≤ 4096 pieces: 256 KiB for 1 GiB, 4 MiB for 16 GiB.
func autoPieceLen(total int64) int64 {
	p := int64(1 << 20)
	for (total+p-1)/p > 4096 && p < 64<<20 {
		p *= 2
	}
	return p
}

// isZeroBlock reports whether generated block i is zeros.
func (c *content) isZeroBlock(i int64) bool {
	return c.Shape == shapeBig && i%bigRandomEvery != 0
}

// fill writes generated block i into b (len(b) ≤ genBlock).
func (c *content) fill(i int64, b []byte) {
	if c.isZeroBlock(i) {
		clear(b)
		return
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], c.seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	copy(key[16:], "lodestone/swarm!")
	rand.NewChaCha8(key).Read(b)
}

// generate writes the content under dir and computes the piece hashes and
// each file's SHA-256. The generator, the piece hasher and the file writer
// run in their own goroutines over a small ring of blocks.
func (c *content) generate(ctx context.Context, log *slog.Logger, dir string, pieceLen int64) error {
	c.Dir = dir
	c.PieceLen = pieceLen
	c.NumPieces = int((c.Total + pieceLen - 1) / pieceLen)
	start := time.Now()

	type slot struct {
		buf  []byte
		n    int
		zero bool
		wg   sync.WaitGroup
	}
	const ring = 8
	slots := make([]*slot, ring)
	for i := range slots {
		slots[i] = &slot{buf: make([]byte, genBlock)}
	}
	toHash, toWrite := make(chan *slot, ring), make(chan *slot, ring)

	ph := &pieceHasher{pieceLen: pieceLen, h: sha1.New()}
	hashDone := make(chan struct{})
	go func() {
		defer close(hashDone)
		for s := range toHash {
			ph.Write(s.buf[:s.n])
			s.wg.Done()
		}
		ph.finish()
	}()
	fw := &fileWriter{c: c, dir: dir}
	writeErr := make(chan error, 1)
	go func() {
		var err error
		for s := range toWrite {
			if err == nil {
				err = fw.write(s.buf[:s.n], s.zero)
			}
			s.wg.Done()
		}
		if err == nil {
			err = fw.close()
		}
		writeErr <- err
	}()

	var genErr error
	nblocks := (c.Total + genBlock - 1) / genBlock
	for i := range nblocks {
		if i%256 == 0 && ctx.Err() != nil {
			genErr = ctx.Err()
			break
		}
		s := slots[i%ring]
		s.wg.Wait()
		s.n = int(min(genBlock, c.Total-i*genBlock))
		s.zero = c.isZeroBlock(i)
		c.fill(i, s.buf[:s.n])
		s.wg.Add(2)
		toHash <- s
		toWrite <- s
	}
	close(toHash)
	close(toWrite)
	<-hashDone
	if err := errors.Join(genErr, <-writeErr); err != nil {
		return err
	}
	c.pieces = ph.sums
	if len(c.pieces) != 20*c.NumPieces {
		return fmt.Errorf("hashed %d pieces, want %d", len(c.pieces)/20, c.NumPieces)
	}
	c.Sparse = fw.sparse
	log.Info("content generated", "shape", c.Shape, "bytes", c.Total, "files", len(c.Files),
		"piece_length", pieceLen, "pieces", c.NumPieces, "sparse", c.Sparse, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// pieceHasher splits a byte stream into pieces and collects their SHA-1s.
type pieceHasher struct {
	pieceLen int64
	h        hash.Hash
	n        int64
	sums     []byte
}

func (p *pieceHasher) Write(b []byte) {
	for len(b) > 0 {
		k := min(int64(len(b)), p.pieceLen-p.n)
		p.h.Write(b[:k])
		p.n += k
		b = b[k:]
		if p.n == p.pieceLen {
			p.sums = p.h.Sum(p.sums)
			p.h.Reset()
			p.n = 0
		}
	}
}

func (p *pieceHasher) finish() {
	if p.n > 0 {
		p.sums = p.h.Sum(p.sums)
	}
}

// fileWriter spreads a byte stream over the content's files and hashes
// each with SHA-256. In the big shape each file is preallocated
// (fallocate: real extents that read as zeros) and zero blocks are skipped
// rather than written.
type fileWriter struct {
	c      *content
	dir    string
	idx    int      // current file
	f      *os.File // open file idx, nil before the first write
	left   int64    // bytes still to write to f
	h      hash.Hash
	sparse bool
}

func (w *fileWriter) write(b []byte, zero bool) error {
	for len(b) > 0 {
		if w.f == nil || w.left == 0 {
			if err := w.next(); err != nil {
				return err
			}
			continue
		}
		k := min(int64(len(b)), w.left)
		w.h.Write(b[:k])
		var err error
		if zero && w.c.Shape == shapeBig {
			_, err = w.f.Seek(k, io.SeekCurrent)
		} else {
			_, err = w.f.Write(b[:k])
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", w.f.Name(), err)
		}
		w.left -= k
		b = b[k:]
	}
	return nil
}

// next closes the current file and opens the next one.
func (w *fileWriter) next() error {
	if w.f != nil {
		if err := w.closeCurrent(); err != nil {
			return err
		}
		w.idx++
	}
	if w.idx >= len(w.c.Files) {
		return errors.New("more bytes than files")
	}
	fs := w.c.Files[w.idx]
	p := w.c.filePath(w.dir, fs)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if w.c.Shape == shapeBig {
		err := errHoles
		if !w.c.holes {
			err = unix.Fallocate(int(f.Fd()), 0, 0, fs.Size)
		}
		if err != nil {
			// Holes read as zeros too; the leechers' copies are real.
			w.sparse = true
			if err := f.Truncate(fs.Size); err != nil {
				f.Close()
				return err
			}
		}
	}
	w.f, w.left, w.h = f, fs.Size, sha256.New()
	return nil
}

func (w *fileWriter) closeCurrent() error {
	if w.left != 0 {
		return fmt.Errorf("%s: %d bytes short", w.f.Name(), w.left)
	}
	w.c.Files[w.idx].SHA256 = hex.EncodeToString(w.h.Sum(nil))
	err := w.f.Close()
	w.f = nil
	return err
}

func (w *fileWriter) close() error {
	if w.f == nil {
		return errors.New("no file written")
	}
	if err := w.closeCurrent(); err != nil {
		return err
	}
	if w.idx != len(w.c.Files)-1 {
		return fmt.Errorf("wrote %d of %d files", w.idx+1, len(w.c.Files))
	}
	return nil
}

// filePath is where file fs of the content lies under a download dir.
func (c *content) filePath(dir string, fs fileSpec) string {
	if !c.Multi {
		return filepath.Join(dir, c.Name)
	}
	return filepath.Join(append([]string{dir, c.Name}, fs.Path...)...)
}

// metainfo returns the .torrent bytes announcing to tracker, and the
// info-hash (hex).
func (c *content) metainfo(tracker string) ([]byte, string, error) {
	info := map[string]any{
		"name":         c.Name,
		"piece length": c.PieceLen,
		"pieces":       c.pieces,
	}
	if c.Multi {
		var files []any
		for _, f := range c.Files {
			var path []any
			for _, p := range f.Path {
				path = append(path, p)
			}
			files = append(files, map[string]any{"length": f.Size, "path": path})
		}
		info["files"] = files
	} else {
		info["length"] = c.Total
	}
	ib, err := bencode(info)
	if err != nil {
		return nil, "", err
	}
	sum := sha1.Sum(ib)
	mi, err := bencode(map[string]any{
		"announce":   tracker,
		"created by": "lodestone bench/swarm",
		"info":       info,
	})
	return mi, hex.EncodeToString(sum[:]), err
}

// verify checks every file under dir against the generated content: size
// and SHA-256. Two workers hash in parallel.
func (c *content) verify(ctx context.Context, dir string) error {
	jobs := make(chan fileSpec)
	errs := make(chan error, len(c.Files))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for fs := range jobs {
				errs <- c.verifyFile(dir, fs, buf)
			}
		})
	}
	for _, fs := range c.Files {
		if ctx.Err() != nil {
			break
		}
		jobs <- fs
	}
	close(jobs)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil && len(all) < 5 {
			all = append(all, err)
		}
	}
	return errors.Join(append(all, ctx.Err())...)
}

func (c *content) verifyFile(dir string, fs fileSpec, buf []byte) error {
	p := c.filePath(dir, fs)
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if n != fs.Size {
		return fmt.Errorf("%s: %d bytes, want %d", p, n, fs.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != fs.SHA256 {
		return fmt.Errorf("%s: sha256 %s, want %s", p, got, fs.SHA256)
	}
	return nil
}

// warm reads the content once so the seeder serves it from page cache.
func (c *content) warm() error {
	buf := make([]byte, 1<<20)
	for _, fs := range c.Files {
		f, err := os.Open(c.filePath(c.Dir, fs))
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, f, buf)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// sizeName writes n bytes as e.g. 1GiB, 256MiB or 1000B.
func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
