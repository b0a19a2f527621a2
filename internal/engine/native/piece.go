package native

import (
	"crypto/sha1"
	"hash"
	"sync"
)

// blockSize is the size of every request but a piece's last (16 KiB:
// what every client serves).
const blockSize = 16 << 10

// piece is a piece in flight: its buffer fills block by block from one
// or more peers, and is hashed in order as the blocks arrive, so a piece
// is never read back to be verified.
type piece struct {
	index   int
	length  int
	nblocks int

	// owners counts the peers working on the piece. Guarded by the
	// torrent's mu.
	owners int

	mem []byte // the pool's buffer, returned to it once written

	mu        sync.Mutex // guards everything below
	buf       []byte     // mem[:length]
	got       bitset     // blocks received
	requested bitset     // blocks asked of some peer and not given up
	from      []*peer    // who sent each block received
	ngot      int
	hashed    int // blocks hashed, in order
	h         hash.Hash
	// failed holds, once the piece failed its hash, the sender and a
	// SHA-1 of each block of the failed attempt; when the piece passes,
	// the peers whose blocks differ are the ones that lied.
	failed []blockRecord
}

type blockRecord struct {
	p   *peer
	sum [20]byte
}

func newPiece(index, length int, buf []byte) *piece {
	n := (length + blockSize - 1) / blockSize
	return &piece{
		index: index, length: length, nblocks: n,
		mem: buf, buf: buf[:length], got: newBitset(n), requested: newBitset(n),
		from: make([]*peer, n), h: sha1.New(),
	}
}

// blockLen is the length of block b.
func (pc *piece) blockLen(b int) int {
	if b == pc.nblocks-1 {
		return pc.length - b*blockSize
	}
	return blockSize
}

// nextRequest marks and returns a block nobody was asked for, or, in
// end-game, one not yet received that skip does not exclude; -1 if none.
// Called with pc.mu held.
func (pc *piece) nextRequestLocked(endgame bool, skip func(b int) bool) int {
	for b := 0; b < pc.nblocks; b++ {
		if pc.got.get(b) {
			continue
		}
		if !pc.requested.get(b) {
			pc.requested.set(b)
			return b
		}
		if endgame && !skip(b) {
			return b
		}
	}
	return -1
}

// giveUp makes block b requestable again (its request was rejected,
// choked away or its peer left).
func (pc *piece) giveUp(b int) {
	pc.mu.Lock()
	if !pc.got.get(b) {
		pc.requested.clear(b)
	}
	pc.mu.Unlock()
}

// put stores block b's data from p, hashing whatever is now contiguous.
// It reports whether the block was new and whether the piece is now
// complete.
func (pc *piece) put(b int, data []byte, p *peer) (fresh, complete bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.got.get(b) {
		return false, false
	}
	copy(pc.buf[b*blockSize:], data)
	pc.got.set(b)
	pc.requested.set(b)
	pc.from[b] = p
	pc.ngot++
	for pc.hashed < pc.nblocks && pc.got.get(pc.hashed) {
		lo := pc.hashed * blockSize
		pc.h.Write(pc.buf[lo : lo+pc.blockLen(pc.hashed)])
		pc.hashed++
	}
	return true, pc.ngot == pc.nblocks
}

// sum returns the SHA-1 of the complete piece. Called once complete.
func (pc *piece) sum() (s [20]byte) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.h.Sum(s[:0])
	return s
}

// reset empties the piece after a failed hash, remembering who sent what,
// and returns the peers that sent all of it (the piece came from them
// alone: they are at fault).
func (pc *piece) reset() (culprits []*peer) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.failed = make([]blockRecord, pc.nblocks)
	for b := range pc.nblocks {
		lo := b * blockSize
		pc.failed[b] = blockRecord{p: pc.from[b], sum: sha1.Sum(pc.buf[lo : lo+pc.blockLen(b)])}
	}
	if only := pc.from[0]; only != nil {
		alone := true
		for _, p := range pc.from {
			alone = alone && p == only
		}
		if alone {
			culprits = append(culprits, only)
		}
	}
	clear(pc.got)
	clear(pc.requested)
	clear(pc.from)
	pc.ngot, pc.hashed = 0, 0
	pc.h.Reset()
	return culprits
}

// liars returns, for a piece that passed after failing, the peers whose
// blocks of the failed attempt differ from the good data.
func (pc *piece) liars() []*peer {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	var out []*peer
	for b, r := range pc.failed {
		lo := b * blockSize
		if r.p != nil && r.sum != sha1.Sum(pc.buf[lo:lo+pc.blockLen(b)]) {
			out = append(out, r.p)
		}
	}
	return out
}
