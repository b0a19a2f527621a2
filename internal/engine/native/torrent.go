package native

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Torrent is one torrent being downloaded. Its state is guarded by mu;
// pieces in flight have their own locks, so peers filling different
// pieces never wait on one another.
type Torrent struct {
	c      *Client
	meta   Meta
	store  *storage
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	writes chan *piece // verified pieces for the writer
	wg     sync.WaitGroup

	mu       sync.Mutex
	have     bitset
	nhave    int
	avail    []int32  // how many connected peers have each piece
	prio     []uint8  // each piece's priority: PrioritySkip, Normal or High
	wanted   int      // pieces wanted (not skipped)
	wantLeft int      // pieces wanted and not had
	active   []*piece // pieces in flight, by index
	writing  bitset   // verified, not yet written
	cursor   int      // no piece below it is wanted
	peers    map[*peer]struct{}
	joined   chan struct{} // a peer joined (cap 1): wakes an idle chokeLoop
	dialing  map[netip.AddrPort]bool
	known    []netip.AddrPort          // addresses to dial when there is room
	seen     map[netip.AddrPort]string // every address ever given, with its source
	redials  map[netip.AddrPort]int    // how often each was dialed again
	paused   bool
	trackers []string
	// trackerStates is the announce loop's record of each tracker.
	trackerStates map[string]*trackerState
	pauseC        chan struct{}      // wakes the announce loop when paused changes
	reannounce    bool               // the announce loop announces to every tracker at once (Reannounce)
	dhtWake       chan struct{}      // wakes the DHT loop on Resume
	dhtCancel     context.CancelFunc // ends the DHT lookup in flight (Pause); nil if none
	banned        map[netip.Addr]bool
	err           error
	doneC         chan struct{}
	doneOnce      sync.Once
	finished      bool

	wasted atomic.Int64 // bytes received and thrown away
	// gone is the payload downloaded from this torrent's peers that
	// have left; Stats adds the peers still here.
	gone     atomic.Int64
	hashFail atomic.Int64 // pieces that failed their hash
	uploaded atomic.Int64 // piece bytes sent
	upReads  atomic.Int64 // disk reads to serve them

	down, up limit // this torrent's rate limits

	chokeMu    sync.Mutex // serialises rechokes; guards optimistic
	optimistic *peer
}

// Stats is a snapshot of a torrent's progress.
type Stats struct {
	Pieces, Have int
	// Wanted counts the pieces not skipped by file priorities, and
	// HaveWanted those of them had: the selection is complete when they
	// are equal.
	Wanted, HaveWanted int
	Downloaded         int64 // payload bytes received, wasted included
	Uploaded           int64
	UploadReads        int64 // disk reads made to serve uploads
	Wasted             int64
	HashFailures       int64
	Peers              int
	Banned             int
	BufferBytes        int64 // the client's piece buffers lent out
}

func newTorrent(c *Client, m Meta) *Torrent {
	n := len(m.Hashes)
	ctx, cancel := context.WithCancel(c.ctx)
	t := &Torrent{
		c: c, meta: m, store: newStorage(m.Dir, m.Files, c.cfg.Protect, c.cfg.Preallocate, !c.cfg.BufferedWrites),
		log: c.log.With("infohash", fmt.Sprintf("%x", m.InfoHash)),
		ctx: ctx, cancel: cancel, writes: make(chan *piece, 64),
		have: newBitset(n), avail: make([]int32, n), active: make([]*piece, n), prio: make([]uint8, n),
		writing: newBitset(n), peers: make(map[*peer]struct{}), joined: make(chan struct{}, 1),
		dialing: make(map[netip.AddrPort]bool), banned: make(map[netip.Addr]bool),
		seen: make(map[netip.AddrPort]string), redials: make(map[netip.AddrPort]int), pauseC: make(chan struct{}, 1), dhtWake: make(chan struct{}, 1),
		doneC: make(chan struct{}), trackers: slices.Clone(m.Trackers), trackerStates: make(map[string]*trackerState),
	}
	for i := range t.prio {
		t.prio[i] = PriorityNormal
	}
	t.wanted, t.wantLeft = n, n
	if n == 0 {
		t.finished = true
		t.markDone()
	}
	t.wg.Add(2)
	go t.writeLoop()
	go t.chokeLoop()
	return t
}

// has reports whether piece i is verified and on disk.
func (t *Torrent) has(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.get(i)
}

// Done is closed once every piece is verified and written, or the torrent
// stopped on an error (see Err).
func (t *Torrent) Done() <-chan struct{} { return t.doneC }

// Err reports why the torrent stopped, if it did.
func (t *Torrent) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// InfoHash returns the torrent's v1 info-hash.
func (t *Torrent) InfoHash() [20]byte { return t.meta.InfoHash }

// Stats returns a snapshot of the torrent's progress.
func (t *Torrent) Stats() Stats {
	t.mu.Lock()
	s := Stats{Pieces: len(t.meta.Hashes), Have: t.nhave, Peers: len(t.peers), Banned: len(t.banned)}
	s.Wanted, s.HaveWanted = t.wanted, t.wanted-t.wantLeft
	var down int64
	for p := range t.peers {
		down += p.downloaded.Load()
	}
	t.mu.Unlock()
	s.Downloaded = down + t.gone.Load()
	s.Wasted = t.wasted.Load()
	s.Uploaded = t.uploaded.Load()
	s.UploadReads = t.upReads.Load()
	s.HashFailures = t.hashFail.Load()
	s.BufferBytes = t.c.pool.inUse()
	return s
}

// Close disconnects every peer and closes the files.
func (t *Torrent) Close() error {
	t.cancel()
	t.mu.Lock()
	for p := range t.peers {
		p.close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	t.c.forget(t)
	t.mu.Lock()
	for i, pc := range t.active {
		if pc != nil {
			t.c.pool.put(pc.mem)
			t.active[i] = nil
		}
	}
	t.mu.Unlock()
	for drained := false; !drained; { // verified pieces the writer never took
		select {
		case pc := <-t.writes:
			t.c.pool.put(pc.mem)
		default:
			drained = true
		}
	}
	t.c.feedStarved()
	return t.store.close()
}

// Banned lists the addresses banned for sending bad data.
func (t *Torrent) Banned() []netip.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]netip.Addr, 0, len(t.banned))
	for a := range t.banned {
		out = append(out, a)
	}
	return out
}

func (t *Torrent) haveSnapshot() (bitset, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(bitset(nil), t.have...), t.nhave
}

// peerHas counts a piece a peer announced and reports whether we want it.
func (t *Torrent) peerHas(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.avail[i]++
	return !t.have.get(i) && t.prio[i] != PrioritySkip
}

// stillActive reports whether pc is still the piece in flight at its
// index (not verified, and not written).
func (t *Torrent) stillActive(pc *piece) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.active[pc.index] == pc
}

// pick hands p a piece to fetch: one another peer left half done, else
// the rarest piece p has that nobody fetches, else (end-game) a piece
// others fetch that still lacks blocks. It returns nil when there is
// nothing, or no buffer, for p.
func (t *Torrent) pick(p *peer) (pc *piece, endgame bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished || t.err != nil {
		return nil, false
	}
	n := len(t.meta.Hashes)
	for t.cursor < n && (t.have.get(t.cursor) || t.writing.get(t.cursor)) {
		t.cursor++
	}
	// A piece in flight that nobody fetches any more.
	for i := t.cursor; i < n; i++ {
		if a := t.active[i]; a != nil && a.owners == 0 && p.has.get(i) && t.prio[i] != PrioritySkip {
			a.owners++
			return a, false
		}
	}
	// The most important piece, then the rarest, then the first.
	best, bestPrio, bestAvail := -1, uint8(0), int32(1<<30)
	for i := t.cursor; i < n; i++ {
		pr := t.prio[i]
		if pr == PrioritySkip || !p.has.get(i) || t.have.get(i) || t.writing.get(i) || t.active[i] != nil {
			continue
		}
		if a := t.avail[i]; pr > bestPrio || pr == bestPrio && a < bestAvail {
			best, bestPrio, bestAvail = i, pr, a
			if pr == PriorityHigh && a <= 1 {
				break
			}
		}
	}
	if best >= 0 {
		length := t.meta.pieceLen(best)
		buf := t.c.pool.get(int(t.meta.PieceLength))
		if buf == nil {
			t.c.starve(t, int(t.meta.PieceLength))
			return nil, false
		}
		pc := newPiece(best, length, buf)
		pc.owners = 1
		t.active[best] = pc
		return pc, false
	}
	// End-game: help with a piece that still lacks blocks.
	for i := t.cursor; i < n; i++ {
		a := t.active[i]
		if a == nil || !p.has.get(i) || t.prio[i] == PrioritySkip || p.works(a) {
			continue
		}
		a.mu.Lock()
		missing := a.ngot < a.nblocks
		a.mu.Unlock()
		if missing {
			a.owners++
			return a, true
		}
	}
	return nil, false
}

// works reports whether pc is in p's work list. Called with p.mu held.
func (p *peer) works(pc *piece) bool {
	for _, w := range p.work {
		if w.pc == pc {
			return true
		}
	}
	return false
}

// leave records that a peer stopped working on pc.
func (t *Torrent) leave(pc *piece) {
	t.mu.Lock()
	pc.owners--
	t.mu.Unlock()
}

// peerGone forgets a closed peer. Called with p.mu held.
func (t *Torrent) peerGone(p *peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range p.work {
		w.pc.owners--
	}
	if _, ok := t.peers[p]; ok {
		delete(t.peers, p)
		t.gone.Add(p.downloaded.Load())
		for i := range t.meta.Hashes {
			if p.has.get(i) {
				t.avail[i]--
			}
		}
	}
	t.spawnLocked(t.dialMore)
}

// pieceComplete checks a piece whose blocks have all arrived: a good one
// goes to the writer, a bad one starts over and its senders are judged.
func (t *Torrent) pieceComplete(pc *piece) {
	if pc.sum() == t.meta.Hashes[pc.index] {
		for _, liar := range pc.liars() {
			t.ban(liar, "sent blocks of a piece that failed its hash")
		}
		t.mu.Lock()
		if t.active[pc.index] == pc {
			t.active[pc.index] = nil
			t.writing.set(pc.index)
		}
		t.mu.Unlock()
		select {
		case t.writes <- pc:
		case <-t.ctx.Done():
			t.c.pool.put(pc.mem)
		}
		return
	}
	t.hashFail.Add(1)
	for _, p := range pc.reset() {
		t.ban(p, "sent a piece that failed its hash")
	}
}

// ban drops p and refuses its address from now on.
func (t *Torrent) ban(p *peer, why string) {
	t.mu.Lock()
	t.banned[p.addr.Addr()] = true
	var drop []*peer
	for q := range t.peers {
		if q.addr.Addr() == p.addr.Addr() {
			drop = append(drop, q)
		}
	}
	t.mu.Unlock()
	t.log.Warn("peer banned", "peer", p.addr, "why", why)
	p.close()
	for _, q := range drop {
		q.close()
	}
}

// writeLoop writes verified pieces, one at a time, then marks them had
// and tells the peers.
func (t *Torrent) writeLoop() {
	defer t.wg.Done()
	for {
		var pc *piece
		select {
		case pc = <-t.writes:
		case <-t.ctx.Done():
			return
		}
		off := int64(pc.index) * t.meta.PieceLength
		err := t.store.writeAt(pc.buf, off)
		t.c.pool.put(pc.mem)
		if err != nil {
			t.fail(err)
			return
		}
		t.written(pc.index)
		if fn := t.c.cfg.OnPieceWritten; fn != nil {
			fn(t.meta.InfoHash, pc.index)
		}
		t.kickIdle()
		t.c.feedStarved()
	}
}

// written marks piece i had, announces it, and finishes the torrent when
// it was the last.
func (t *Torrent) written(i int) {
	var msg [4]byte
	msg[0], msg[1], msg[2], msg[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	t.mu.Lock()
	t.writing.clear(i)
	if t.have.get(i) {
		t.mu.Unlock()
		return
	}
	t.have.set(i)
	t.nhave++
	last := t.nhave == len(t.meta.Hashes)
	selectionDone := false
	if t.prio[i] != PrioritySkip {
		t.wantLeft--
		selectionDone = t.wantLeft == 0 && !last
	}
	peers := slices.Collect(maps.Keys(t.peers))
	for _, p := range peers {
		p.send(pp.Have, msg[:])
	}
	t.mu.Unlock()
	if selectionDone {
		for _, p := range peers {
			p.updateInterest()
		}
	}
	if last {
		err := t.store.finish()
		t.mu.Lock()
		t.finished = true
		if err != nil && t.err == nil {
			t.err = err
		}
		for p := range t.peers {
			p.send(pp.NotInterested, nil)
		}
		t.mu.Unlock()
		t.markDone()
	}
}

// markDone closes Done, once: the last piece written and a failed write
// can race to it.
func (t *Torrent) markDone() { t.doneOnce.Do(func() { close(t.doneC) }) }

// fail stops the torrent on an error it cannot get past (a failed write).
func (t *Torrent) fail(err error) {
	t.log.Error("torrent stopped", "err", err)
	t.mu.Lock()
	if t.err == nil {
		t.err = err
	}
	for p := range t.peers {
		p.close()
	}
	t.finished = true
	t.mu.Unlock()
	t.markDone()
}

// kickIdle refills the pipelines of peers that ran dry (waiting for a
// buffer).
func (t *Torrent) kickIdle() {
	t.mu.Lock()
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		dry := len(p.reqs) == 0
		p.mu.Unlock()
		if dry {
			p.fill()
		}
	}
}

// errBanned refuses a connection from or to a banned address.
var errBanned = errors.New("native: peer banned")

// errClosed refuses work once the client is closing.
var errClosed = errors.New("native: client closed")
