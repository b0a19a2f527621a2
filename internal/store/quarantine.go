package store

// Damaged database files.
//
// bbolt trusts its file: it maps it into memory and follows page numbers
// without bounds checks. A truncated or bit-flipped file makes it panic
// ("invalid freelist page"), or fault on a page past the end of the file
// (SIGBUS/SIGSEGV: a fatal runtime error, not a panic), or loop through a
// cycle of pages. Any of these at start-up would crash the daemon again on
// every restart. So before bbolt opens a file, CheckFile walks its
// structure with plain reads and strict bounds, and a file that fails is
// moved aside (quarantined) instead of opened. bbolt's own Tx.Check is not
// used for this: it runs in a goroutine of its own, where a panic or fault
// cannot be recovered, and it believes page headers (an overflow count of
// 2³² makes it fill a map with four billion entries).

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
)

// ErrDamaged marks a database file that cannot be read safely: truncated,
// empty, or with a page or record that does not parse.
var ErrDamaged = errors.New("database file is damaged")

// Damage describes a damaged database file that was moved aside.
type Damage struct {
	// Path is where the file was; MovedTo is where it is now.
	Path, MovedTo string
	// Cause says what was wrong; it wraps ErrDamaged.
	Cause error
}

// QuarantineSuffix starts the suffix a quarantined file gets, followed by
// the UTC time: lodestone.db.corrupt-20261127T080000Z.
const QuarantineSuffix = ".corrupt-"

// QuarantineDamaged checks the bbolt file at path (CheckFile) and, when it
// is damaged, renames it to path + QuarantineSuffix + UTC time so that a
// fresh file can be made in its place. It returns nil, nil when the file is
// sound or does not exist; ErrLocked when another process has the file
// open; and any other error (permissions, I/O) as it is, without moving
// anything: only damage moves a file.
//
// It is for files opened by code that does not check them, such as the
// engine's piece-completion database. The caller must not have the file
// open.
func QuarantineDamaged(path string) (*Damage, error) {
	return quarantineDamaged(path, nil, true)
}

// quarantineDamaged checks path, also with records when not nil, and moves
// it aside when damaged if move is set; otherwise it returns the damage as
// an error wrapping ErrDamaged.
func quarantineDamaged(path string, records func(*bbolt.Tx) error, move bool) (*Damage, error) {
	// The file is checked under bbolt's shared lock, so a file another
	// process is writing is never judged (nor moved). Should the path be
	// replaced while the lock is being taken (another process quarantined
	// it first), check again.
	for range 3 {
		dmg, retry, err := checkLocked(path, records, move)
		if !retry {
			return dmg, err
		}
	}
	return nil, fmt.Errorf("check %s: the file keeps being replaced", path)
}

// checkLocked takes bbolt's shared lock on path, checks the file and moves
// it aside when damaged, still holding the lock. retry reports that path no
// longer names the file that was checked.
func checkLocked(path string, records func(*bbolt.Tx) error, move bool) (dmg *Damage, retry bool, err error) {
	var (
		f  *os.File
		fi os.FileInfo
	)
	opts := &bbolt.Options{
		ReadOnly: true,
		Timeout:  time.Second,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			file, err := os.OpenFile(name, flag, perm)
			if err != nil {
				return nil, err
			}
			if fi, err = file.Stat(); err != nil {
				file.Close()
				return nil, err
			}
			f = file
			return file, nil
		},
	}
	var db *bbolt.DB
	openErr := protect(func() (err error) {
		db, err = bbolt.Open(path, 0o600, opts)
		return err
	})
	var cause error
	switch {
	case openErr == nil:
		defer db.Close()
		cause = checkFile(f, fi.Size())
		if cause == nil && records != nil {
			cause = protect(func() error { return db.View(records) })
			if cause != nil && !errors.Is(cause, ErrDamaged) {
				cause = fmt.Errorf("%w: %w", ErrDamaged, cause)
			}
		}
		if cause == nil {
			return nil, false, nil
		}
	case errors.Is(openErr, fs.ErrNotExist) && f == nil:
		return nil, false, nil
	case errors.Is(openErr, bbolt.ErrTimeout):
		return nil, false, fmt.Errorf("open %s: %w", path, ErrLocked)
	case f == nil || !fi.Mode().IsRegular():
		// Could not even open the file (permissions, I/O), or it is not a
		// file at all.
		return nil, false, fmt.Errorf("open %s: %w", path, openErr)
	default:
		// The lock was taken (bbolt reads only after locking), so what
		// failed is the file itself. bbolt then closed it, releasing the
		// lock (the inode check below guards the rename) — unless it
		// panicked, which leaves the file, its mapping and its lock to the
		// process: once per damaged file, and harmless once it is moved.
		if fi.Size() == 0 {
			cause = fmt.Errorf("%w: empty file", ErrDamaged)
		} else if errors.Is(openErr, ErrDamaged) || !isSystemError(openErr) {
			cause = fmt.Errorf("%w: %w", ErrDamaged, openErr)
		} else {
			return nil, false, fmt.Errorf("open %s: %w", path, openErr)
		}
	}
	if !move {
		return nil, false, fmt.Errorf("open %s: %w", path, cause)
	}
	now, err := os.Stat(path)
	if err != nil || !os.SameFile(now, fi) {
		return nil, true, nil
	}
	moved, err := quarantine(path, time.Now())
	if err != nil {
		return nil, false, errors.Join(cause, err)
	}
	return &Damage{Path: path, MovedTo: moved, Cause: cause}, false, nil
}

// quarantine renames path to path + QuarantineSuffix + the UTC time, with a
// counter when that name is taken, and returns the new name.
func quarantine(path string, now time.Time) (string, error) {
	base := path + QuarantineSuffix + now.UTC().Format("20060102T150405Z")
	to := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move damaged %s aside: %w", path, err)
	}
	return to, nil
}

// isSystemError reports whether err comes from the operating system (a
// path or syscall error) rather than from what the file holds.
func isSystemError(err error) bool {
	var pe *fs.PathError
	var errno interface{ Errno() uintptr }
	return errors.As(err, &pe) || errors.As(err, &errno)
}

// protect runs fn, turning a panic, or a memory fault on the mapped file
// (which would otherwise kill the process), into an ErrDamaged error.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if f, ok := p.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: bbolt: memory fault at %#x", ErrDamaged, f.Addr())
				return
			}
			err = fmt.Errorf("%w: bbolt: %v", ErrDamaged, p)
		}
	}()
	return fn()
}

// The bbolt file format (version 2), as far as CheckFile reads it. Numbers
// are in the machine's byte order, as bbolt writes them.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	elementSize     = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	bucketHeaderLen = 16 // root pgid u64, sequence u64
	metaChecksumAt  = 56 // the checksum covers the meta's first 56 bytes

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagFreelist = 0x10
	leafIsBucket = 0x01

	noFreelist = ^uint64(0)
	maxDepth   = 64
)

var ne = binary.NativeEndian

// CheckFile checks the structure of the bbolt file at path without
// mapping it: a valid meta page as bbolt would choose it, a file as long as
// that meta says, a readable freelist, and a tree in which every page is
// in bounds, of the right type, reached once, with keys in order and every
// key and value inside its page. It returns nil for a sound file and an
// error wrapping ErrDamaged for a damaged one. The file must not be
// written while it is checked.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkFile(f, fi.Size())
}

type meta struct {
	pageSize            uint64
	root, freelist, hwm uint64
	txid                uint64
	err                 error
}

func readMeta(f *os.File, off int64) meta {
	b := make([]byte, pageHeaderSize+64)
	if _, err := f.ReadAt(b, off); err != nil {
		return meta{err: fmt.Errorf("meta page at %d: %w", off, err)}
	}
	m := b[pageHeaderSize:]
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	switch {
	case ne.Uint32(m[0:]) != boltMagic:
		return meta{err: fmt.Errorf("meta page at %d: not a bbolt meta page", off)}
	case ne.Uint32(m[4:]) != boltVersion:
		return meta{err: fmt.Errorf("meta page at %d: format version %d", off, ne.Uint32(m[4:]))}
	case ne.Uint64(m[metaChecksumAt:]) != h.Sum64():
		return meta{err: fmt.Errorf("meta page at %d: checksum mismatch", off)}
	}
	return meta{
		pageSize: uint64(ne.Uint32(m[8:])),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		hwm:      ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}
}

func checkFile(f *os.File, size int64) error {
	if err := checkStructure(f, size); err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return nil
}

func checkStructure(f *os.File, size int64) error {
	if size == 0 {
		return errors.New("empty file")
	}
	// The page size is read from the first valid meta page, the second one
	// being looked for at the OS page size, as bbolt does.
	m0 := readMeta(f, 0)
	ps := m0.pageSize
	if m0.err != nil {
		ps = uint64(os.Getpagesize())
	}
	if ps < 1024 || ps > 1<<20 || ps&(ps-1) != 0 {
		return fmt.Errorf("page size %d", ps)
	}
	m1 := readMeta(f, int64(ps))
	if m0.err == nil && m1.err == nil && m1.pageSize != ps {
		return fmt.Errorf("meta pages disagree on the page size: %d, %d", ps, m1.pageSize)
	}
	// bbolt uses the meta with the higher transaction id if it is valid,
	// else the other.
	m, other := m0, m1
	if m1.txid > m0.txid {
		m, other = m1, m0
	}
	if m.err != nil {
		m = other
	}
	if m.err != nil {
		return fmt.Errorf("no valid meta page: %w", errors.Join(m0.err, m1.err))
	}
	if m.pageSize != ps {
		return fmt.Errorf("meta page size %d, expected %d", m.pageSize, ps)
	}
	if m.hwm < 3 || m.hwm > uint64(size)/ps {
		return fmt.Errorf("file of %d bytes holds %d pages, its meta says %d (truncated?)", size, uint64(size)/ps, m.hwm)
	}
	c := &checker{f: f, ps: ps, hwm: m.hwm, seen: make(map[uint64]bool)}
	free := map[uint64]bool{}
	if m.freelist != noFreelist {
		ids, err := c.freelist(m.freelist)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if id < 2 || id >= m.hwm {
				return fmt.Errorf("freelist: page %d out of bounds", id)
			}
			if free[id] {
				return fmt.Errorf("freelist: page %d freed twice", id)
			}
			free[id] = true
		}
	}
	if err := c.tree(m.root, 0); err != nil {
		return err
	}
	for id := range c.seen {
		if free[id] {
			return fmt.Errorf("page %d is in use and free", id)
		}
	}
	return nil
}

// checker walks the pages of one file.
type checker struct {
	f    *os.File
	ps   uint64
	hwm  uint64
	seen map[uint64]bool // pages reached from the root (with their overflow)
}

// page reads page id with its overflow pages, checking its header.
func (c *checker) page(id uint64, wantFlags uint16) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, fmt.Errorf("page %d out of bounds (%d pages)", id, c.hwm)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := c.f.ReadAt(hdr, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	flags := ne.Uint16(hdr[8:])
	if flags&wantFlags == 0 || flags&^wantFlags != 0 || flags&(flags-1) != 0 {
		return nil, fmt.Errorf("page %d: type %#x", id, flags)
	}
	overflow := uint64(ne.Uint32(hdr[12:]))
	if id+overflow >= c.hwm {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the end", id, overflow)
	}
	buf := make([]byte, (1+overflow)*c.ps)
	if _, err := c.f.ReadAt(buf, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

func (c *checker) freelist(id uint64) ([]uint64, error) {
	p, err := c.page(id, flagFreelist)
	if err != nil {
		return nil, fmt.Errorf("freelist: %w", err)
	}
	start, n := uint64(pageHeaderSize), uint64(ne.Uint16(p[10:]))
	if n == 0xFFFF {
		// The real count is the first element.
		n = ne.Uint64(p[pageHeaderSize:])
		start += 8
	}
	if n > (uint64(len(p))-start)/8 {
		return nil, fmt.Errorf("freelist: %d ids do not fit its page", n)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = ne.Uint64(p[start+uint64(i)*8:])
	}
	return ids, nil
}

// tree checks the branch or leaf page id and everything below it.
func (c *checker) tree(id uint64, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("page %d: tree deeper than %d", id, maxDepth)
	}
	p, err := c.page(id, flagBranch|flagLeaf)
	if err != nil {
		return err
	}
	for i := id; i < id+uint64(len(p))/c.ps; i++ {
		if c.seen[i] {
			return fmt.Errorf("page %d reached twice", i)
		}
		c.seen[i] = true
	}
	if ne.Uint16(p[8:]) == flagBranch {
		return c.branch(id, p, depth)
	}
	return c.leaf(id, p, depth, false)
}

// element returns the key (and, for a leaf, the value) of element i of
// page p. bbolt packs keys and values in element order right after the
// element array, so the data of element i must start at next, the end of
// element i-1's data; a count or position that was changed shows as a gap.
func element(p []byte, i int, leaf bool, next uint64) (flags uint32, key, val []byte, pgid uint64, err error) {
	at := pageHeaderSize + i*elementSize
	e := p[at : at+elementSize]
	var pos, ksize, vsize uint64
	if leaf {
		flags = ne.Uint32(e)
		pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
	} else {
		pos, ksize, pgid = uint64(ne.Uint32(e)), uint64(ne.Uint32(e[4:])), ne.Uint64(e[8:])
	}
	lo := uint64(at) + pos
	switch {
	case lo != next:
		err = fmt.Errorf("element %d: data at %d, expected at %d", i, lo, next)
	case ksize == 0:
		err = fmt.Errorf("element %d: empty key", i)
	case lo+ksize+vsize > uint64(len(p)):
		err = fmt.Errorf("element %d runs outside its page", i)
	}
	if err != nil {
		return 0, nil, nil, 0, err
	}
	return flags, p[lo : lo+ksize], p[lo+ksize : lo+ksize+vsize], pgid, nil
}

func elementCount(p []byte) (int, error) {
	n := int(ne.Uint16(p[10:]))
	if pageHeaderSize+n*elementSize > len(p) {
		return 0, fmt.Errorf("%d elements do not fit the page", n)
	}
	return n, nil
}

func (c *checker) branch(id uint64, p []byte, depth int) error {
	n, err := elementCount(p)
	if err == nil && n == 0 {
		err = errors.New("empty branch")
	}
	if err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	var prev []byte
	next := uint64(pageHeaderSize + n*elementSize)
	for i := range n {
		_, key, _, child, err := element(p, i, false, next)
		if err == nil && i > 0 && bytes.Compare(prev, key) >= 0 {
			err = fmt.Errorf("keys out of order at element %d", i)
		}
		if err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		prev, next = key, next+uint64(len(key))
		if err := c.tree(child, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks a leaf page (inline: the page inside a small bucket's value)
// and the buckets it holds.
func (c *checker) leaf(id uint64, p []byte, depth int, inline bool) error {
	where := fmt.Sprintf("page %d", id)
	if inline {
		where = fmt.Sprintf("inline bucket in page %d", id)
	}
	n, err := elementCount(p)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var prev []byte
	next := uint64(pageHeaderSize + n*elementSize)
	for i := range n {
		flags, key, val, _, err := element(p, i, true, next)
		switch {
		case err != nil:
		case flags&^leafIsBucket != 0:
			err = fmt.Errorf("element %d: flags %#x", i, flags)
		case i > 0 && bytes.Compare(prev, key) >= 0:
			err = fmt.Errorf("keys out of order at element %d", i)
		case flags&leafIsBucket != 0 && inline:
			err = fmt.Errorf("element %d: a bucket inside an inline bucket", i)
		case flags&leafIsBucket != 0 && len(val) < bucketHeaderLen:
			err = fmt.Errorf("element %d: bucket header of %d bytes", i, len(val))
		}
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		prev, next = key, next+uint64(len(key)+len(val))
		if flags&leafIsBucket == 0 {
			continue
		}
		if root := ne.Uint64(val); root != 0 {
			if err := c.tree(root, depth+1); err != nil {
				return err
			}
			continue
		}
		in := val[bucketHeaderLen:]
		if len(in) < pageHeaderSize || ne.Uint16(in[8:]) != flagLeaf {
			return fmt.Errorf("%s: element %d: bad inline bucket", where, i)
		}
		if err := c.leaf(id, in, depth+1, true); err != nil {
			return err
		}
	}
	return nil
}

// checkRecords decodes every record of the store, so that a damaged value
// is found at start-up rather than failing the daemon later.
func checkRecords(tx *bbolt.Tx) error {
	if b := tx.Bucket(bucketTasks); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("task %q: %w", k, err)
			}
			if t.ID != string(k) {
				return fmt.Errorf("task %q: record names %q", k, t.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if b := tx.Bucket(bucketMetaInfo); b != nil {
		// The engine parses a metainfo when the task is restored; here it
		// must belong to a stored task and hold something.
		tasks := tx.Bucket(bucketTasks)
		err := b.ForEach(func(k, v []byte) error {
			switch {
			case tasks == nil || tasks.Get(k) == nil:
				return fmt.Errorf("metainfo %q: no such task", k)
			case len(v) == 0:
				return fmt.Errorf("metainfo %q: empty", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if b := tx.Bucket(bucketMeta); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			switch {
			case bytes.HasPrefix(k, []byte("setting/")):
				if !json.Valid(v) {
					return fmt.Errorf("setting %q is not JSON", k[len("setting/"):])
				}
			case len(v) != 8:
				return fmt.Errorf("meta %q: %d bytes, want 8", k, len(v))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := checkJournal(tx); err != nil {
		return err
	}
	if err := checkCategories(tx); err != nil {
		return err
	}
	if err := checkWebhooks(tx); err != nil {
		return err
	}
	if err := checkRSS(tx); err != nil {
		return err
	}
	if b := tx.Bucket(bucketEvents); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			if len(k) != 8 || !json.Valid(v) {
				return fmt.Errorf("event %x: damaged", k)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
