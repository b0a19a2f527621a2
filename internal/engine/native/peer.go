package native

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

const (
	// readBufferSize is how much one socket read can bring in: sixteen
	// blocks, so that one read (and one batch of new requests) serves
	// many blocks.
	readBufferSize = 256 << 10
	// maxMessage bounds every message but a bitfield (whose bound is the
	// torrent's) : a block with its header is the largest we accept.
	maxMessage = blockSize + 13
	// maxExtended bounds an extension message (BEP 10), which is read and
	// dropped for now.
	maxExtended = 1 << 20
	// Request pipeline depth, in blocks, adapted to the peer's rate: half
	// a second of data in flight, within these bounds.
	minDepth, startDepth, maxDepth = 16, 64, 500
	idleTimeout                    = 3 * time.Minute
	keepAliveEvery                 = 2 * time.Minute
	writeTimeout                   = time.Minute
)

// errProtocol marks a peer that broke the protocol; it is dropped.
var errProtocol = errors.New("native: protocol violation")

// peer is one connection. Its reader goroutine runs the protocol; its
// writer goroutine sends whatever was queued, in one write per batch.
type peer struct {
	t    *Torrent
	addr netip.AddrPort
	conn net.Conn
	r    *bufio.Reader
	w    io.Writer // conn, or its MSE layer; buffered for uTP (see flush)
	fast bool      // both sides speak BEP 6
	ext  bool      // both sides speak BEP 10
	// network is what the connection runs over: NetworkTCP or NetworkUTP.
	network string
	// crypto is the connection's encryption (Crypto*).
	crypto string
	// pol is the policy the connection was made under.
	pol *Policy

	done      chan struct{} // closed when the connection is finished
	closeOnce sync.Once

	mu         sync.Mutex // guards the request state below
	has        bitset
	nhas       int
	choked     bool // the peer chokes us
	interested bool // we told the peer we are interested
	reqs       map[uint64]*piece
	work       []workItem
	depth      int
	maxDepth   int // the peer's request queue bound (its "reqq"), at most maxDepth
	// peerUtMetadata and peerUtPex are the peer's numbers for
	// ut_metadata and ut_pex (0: none); listenPort is the port it said
	// it listens on (its extension handshake's "p").
	peerUtMetadata, peerUtPex pp.ExtensionNumber
	listenPort                uint16
	pexTold                   map[netip.AddrPort]bool // what our peer exchange told it
	incoming                  bool                    // it dialed us
	client                    string                  // its name, from its extension handshake
	source                    string                  // how we learned of it (Source*)
	gone                      bool
	windowStart               time.Time
	windowBytes               int64

	omu      sync.Mutex // guards out, the upload queue and choking
	out      []byte
	spare    []byte // the writer's other buffer
	wake     chan struct{}
	uploads  []blockReq // the peer's requests we will serve, in order
	choking  bool       // we choke the peer
	upWindow upWindow   // the writer's read-ahead; the writer's alone

	peerInterested atomic.Bool // the peer wants our pieces
	downloaded     atomic.Int64
	uploaded       atomic.Int64
	hdr            [13]byte

	// The choker's bookkeeping, guarded by the torrent's chokeMu.
	lastDown, lastUp int64
	rate             int64 // bytes per rechoke period, in the direction that counts
}

// workItem is a piece a peer fetches blocks of; endgame means other peers
// fetch it too and blocks may be asked twice.
type workItem struct {
	pc      *piece
	endgame bool
}

func reqKey(index, begin int) uint64 { return uint64(index)<<32 | uint64(uint32(begin)) }

func newPeer(t *Torrent, conn net.Conn, addr netip.AddrPort, r *bufio.Reader, fast, ext bool) *peer {
	return &peer{
		t: t, addr: addr, conn: conn, r: r, w: conn, fast: fast, ext: ext,
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		has: newBitset(len(t.meta.Hashes)), choked: true,
		reqs: make(map[uint64]*piece), depth: startDepth, maxDepth: maxDepth, choking: true,
	}
}

// close drops the connection (idempotent).
func (p *peer) close() {
	p.closeOnce.Do(func() {
		close(p.done)
		p.conn.Close()
	})
}

// run speaks the protocol until the connection ends, then returns every
// request and piece the peer held.
func (p *peer) run() error {
	written := make(chan struct{})
	go func() {
		defer close(written)
		p.writeLoop()
	}()
	defer func() {
		p.cleanup()
		<-written // the writer ends once the connection is closed
	}()
	p.sendHaves() // BEP 3 and 6: first after the handshake
	if p.ext {
		p.sendExtendedHandshake()
	}
	for {
		if err := p.readMessage(); err != nil {
			return err
		}
		p.mu.Lock()
		refill := p.r.Buffered() == 0 || len(p.reqs) < p.depth/2
		p.mu.Unlock()
		if refill {
			p.fill()
		}
	}
}

func (p *peer) cleanup() {
	p.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	p.dropRequestsLocked()
	p.t.peerGone(p)
	p.work = nil
}

// deadlineConn renews the read deadline on every read from the socket.
type deadlineConn struct{ net.Conn }

func (c deadlineConn) Read(b []byte) (int, error) {
	c.SetReadDeadline(time.Now().Add(idleTimeout))
	return c.Conn.Read(b)
}

func (p *peer) readMessage() error {
	hdr, err := p.r.Peek(4)
	if err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	p.r.Discard(4)
	if n == 0 {
		return nil // keep-alive
	}
	if n > max(maxMessage, len(p.has)+1, maxExtended) {
		return fmt.Errorf("%w: message of %d bytes", errProtocol, n)
	}
	typ, err := p.r.ReadByte()
	if err != nil {
		return err
	}
	n--
	if t := pp.MessageType(typ); t != pp.Bitfield && t != pp.Extended && n > maxMessage-1 {
		return fmt.Errorf("%w: %v message of %d bytes", errProtocol, t, n)
	}
	switch t := pp.MessageType(typ); t {
	case pp.Choke, pp.Unchoke, pp.Interested, pp.NotInterested, pp.HaveAll, pp.HaveNone:
		if n != 0 {
			return fmt.Errorf("%w: %v with %d bytes", errProtocol, t, n)
		}
	}
	switch pp.MessageType(typ) {
	case pp.Piece:
		return p.onPiece(n)
	case pp.Choke:
		p.onChoke()
	case pp.Unchoke:
		p.mu.Lock()
		p.choked = false
		p.mu.Unlock()
	case pp.Have:
		if n != 4 {
			return fmt.Errorf("%w: have of %d bytes", errProtocol, n)
		}
		b, err := p.fixed(4)
		if err != nil {
			return err
		}
		return p.onHave(int(binary.BigEndian.Uint32(b)))
	case pp.Bitfield:
		if n != len(p.has) {
			return fmt.Errorf("%w: bitfield of %d bytes for %d pieces", errProtocol, n, len(p.t.meta.Hashes))
		}
		bf := make(bitset, n)
		if _, err := io.ReadFull(p.r, bf); err != nil {
			return err
		}
		return p.onBitfield(bf)
	case pp.HaveAll, pp.HaveNone:
		if !p.fast {
			return fmt.Errorf("%w: %v without the fast extension", errProtocol, pp.MessageType(typ))
		}
		bf := newBitset(len(p.t.meta.Hashes))
		if pp.MessageType(typ) == pp.HaveAll {
			for i := range p.t.meta.Hashes {
				bf.set(i)
			}
		}
		return p.onBitfield(bf)
	case pp.Reject:
		if !p.fast || n != 12 {
			return fmt.Errorf("%w: reject", errProtocol)
		}
		b, err := p.fixed(12)
		if err != nil {
			return err
		}
		p.onReject(int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:])))
	case pp.Request, pp.Cancel:
		if n != 12 {
			return fmt.Errorf("%w: %v of %d bytes", errProtocol, pp.MessageType(typ), n)
		}
		b, err := p.fixed(12)
		if err != nil {
			return err
		}
		r := blockReq{int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:])), int(binary.BigEndian.Uint32(b[8:]))}
		if pp.MessageType(typ) == pp.Cancel {
			p.onCancel(r)
			return nil
		}
		return p.onRequest(r)
	case pp.Interested, pp.NotInterested:
		p.peerInterested.Store(pp.MessageType(typ) == pp.Interested)
		p.t.interestChanged(p)
	case pp.Extended:
		if !p.ext {
			return fmt.Errorf("%w: extension message without the extension protocol", errProtocol)
		}
		return p.onExtended(n)
	default:
		// Port, suggest, allowed fast and unknown messages: nothing to
		// do yet.
		_, err := p.r.Discard(n)
		return err
	}
	return nil
}

// fixed reads an n-byte payload (n ≤ 13) into the peer's scratch space.
func (p *peer) fixed(n int) ([]byte, error) {
	b := p.hdr[:n]
	_, err := io.ReadFull(p.r, b)
	return b, err
}

func (p *peer) onPiece(n int) error {
	if n < 8 {
		return fmt.Errorf("%w: piece of %d bytes", errProtocol, n)
	}
	b, err := p.fixed(8)
	if err != nil {
		return err
	}
	index, begin := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
	n -= 8
	key := reqKey(index, begin)
	p.mu.Lock()
	pc := p.reqs[key]
	delete(p.reqs, key)
	p.countLocked(n)
	p.mu.Unlock()
	if pc == nil {
		// Not asked for, or asked and given up (choke, end-game): drop.
		p.t.wasted.Add(int64(n))
		_, err := p.r.Discard(n)
		return err
	}
	blk := begin / blockSize
	if n != pc.blockLen(blk) {
		pc.giveUp(blk)
		return fmt.Errorf("%w: block %d/%d of %d bytes", errProtocol, index, begin, n)
	}
	data, err := p.r.Peek(n)
	if err != nil {
		pc.giveUp(blk)
		return err
	}
	fresh, complete := pc.put(blk, data, p)
	p.r.Discard(n)
	p.downloaded.Add(int64(n))
	if err := p.t.waitDown(n); err != nil {
		return err
	}
	if !fresh {
		p.t.wasted.Add(int64(n))
	}
	if complete {
		p.t.pieceComplete(pc)
	}
	return nil
}

// countLocked adapts the pipeline depth to the rate: about half a second
// of blocks in flight.
func (p *peer) countLocked(n int) {
	p.windowBytes += int64(n)
	now := time.Now()
	if p.windowStart.IsZero() {
		p.windowStart = now
		return
	}
	if el := now.Sub(p.windowStart); el >= 500*time.Millisecond {
		rate := float64(p.windowBytes) / el.Seconds()
		p.depth = min(max(int(rate/2/blockSize), minDepth), p.maxDepth)
		p.windowStart, p.windowBytes = now, 0
	}
}

func (p *peer) onChoke() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.choked = true
	if p.fast {
		return // pending requests will be rejected or served (BEP 6)
	}
	p.dropRequestsLocked()
}

// dropRequestsLocked forgets every request in flight, making their blocks
// requestable again. Called with p.mu held.
func (p *peer) dropRequestsLocked() {
	for k, pc := range p.reqs {
		pc.giveUp(int(uint32(k)) / blockSize)
	}
	clear(p.reqs)
}

func (p *peer) onReject(index, begin int) {
	key := reqKey(index, begin)
	p.mu.Lock()
	pc := p.reqs[key]
	delete(p.reqs, key)
	p.mu.Unlock()
	if pc != nil {
		pc.giveUp(begin / blockSize)
	}
}

func (p *peer) onHave(i int) error {
	if i < 0 || i >= len(p.t.meta.Hashes) {
		return fmt.Errorf("%w: have %d of %d pieces", errProtocol, i, len(p.t.meta.Hashes))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.has.get(i) {
		return nil
	}
	p.has.set(i)
	p.nhas++
	if p.t.peerHas(i) && !p.interested {
		p.interested = true
		p.send(pp.Interested, nil)
	}
	return nil
}

func (p *peer) onBitfield(bf bitset) error {
	if !bf.validFor(len(p.t.meta.Hashes)) {
		return fmt.Errorf("%w: bitfield with spare bits set", errProtocol)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// BEP 3 has the bitfield only first, but aria2 sends one later in
	// place of many haves: a later one adds to what the peer had.
	want := false
	for i := range p.t.meta.Hashes {
		if bf.get(i) && !p.has.get(i) {
			p.has.set(i)
			p.nhas++
			want = p.t.peerHas(i) || want
		}
	}
	if want && !p.interested {
		p.interested = true
		p.send(pp.Interested, nil)
	}
	return nil
}

// fill asks the peer for blocks until its pipeline is full.
func (p *peer) fill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var batch []byte
	for !p.gone && !p.choked && len(p.reqs) < p.depth {
		pc, blk := p.nextBlockLocked()
		if pc == nil {
			break
		}
		p.reqs[reqKey(pc.index, blk*blockSize)] = pc
		batch = appendRequest(batch, pp.Request, pc.index, blk*blockSize, pc.blockLen(blk))
	}
	if len(batch) > 0 {
		p.sendRaw(batch)
	}
}

// nextBlockLocked finds the next block to ask for in the peer's pieces,
// taking a new piece from the torrent when they have none left.
func (p *peer) nextBlockLocked() (*piece, int) {
	for {
		for i := 0; i < len(p.work); i++ {
			w := p.work[i]
			w.pc.mu.Lock()
			done := w.pc.ngot == w.pc.nblocks
			blk := -1
			if !done {
				blk = w.pc.nextRequestLocked(w.endgame, func(b int) bool {
					_, asked := p.reqs[reqKey(w.pc.index, b*blockSize)]
					return asked
				})
			}
			w.pc.mu.Unlock()
			if blk >= 0 {
				return w.pc, blk
			}
			if done || !p.t.stillActive(w.pc) {
				p.t.leave(w.pc)
				p.work = append(p.work[:i], p.work[i+1:]...)
				i--
			}
		}
		pc, endgame := p.t.pick(p)
		if pc == nil {
			return nil, -1
		}
		p.work = append(p.work, workItem{pc: pc, endgame: endgame})
	}
}

// sendHaves announces what we have: a bitfield, or under BEP 6 have-all
// or have-none.
func (p *peer) sendHaves() {
	have, n := p.t.haveSnapshot()
	switch {
	case p.fast && n == 0:
		p.send(pp.HaveNone, nil)
	case p.fast && n == len(p.t.meta.Hashes):
		p.send(pp.HaveAll, nil)
	case n > 0:
		p.send(pp.Bitfield, have)
	}
}

// send queues one message.
func (p *peer) send(t pp.MessageType, payload []byte) {
	var b [5]byte
	binary.BigEndian.PutUint32(b[:], uint32(1+len(payload)))
	b[4] = byte(t)
	p.omu.Lock()
	p.out = append(append(p.out, b[:]...), payload...)
	p.omu.Unlock()
	p.kick()
}

// sendRaw queues encoded messages.
func (p *peer) sendRaw(msgs []byte) {
	p.omu.Lock()
	p.out = append(p.out, msgs...)
	p.omu.Unlock()
	p.kick()
}

func (p *peer) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func appendRequest(b []byte, t pp.MessageType, index, begin, length int) []byte {
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, byte(t))
	b = binary.BigEndian.AppendUint32(b, uint32(index))
	b = binary.BigEndian.AppendUint32(b, uint32(begin))
	return binary.BigEndian.AppendUint32(b, uint32(length))
}

// writeLoop sends queued messages, everything queued in one write, and a
// keep-alive when there was nothing to send for a while.
func (p *peer) writeLoop() {
	keep := time.NewTimer(keepAliveEvery)
	defer keep.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		case <-keep.C:
			p.omu.Lock()
			if len(p.out) == 0 {
				p.out = append(p.out, 0, 0, 0, 0)
			}
			p.omu.Unlock()
		}
		keep.Reset(keepAliveEvery)
		for {
			p.omu.Lock()
			buf := p.out
			p.out = p.spare[:0]
			ups := p.takeUploadsLocked()
			p.omu.Unlock()
			if len(buf) == 0 && len(ups) == 0 {
				p.spare = buf
				break
			}
			err := p.writeBatch(buf, ups)
			p.spare = buf // the buffer taken is the next swap's
			if err != nil {
				p.close()
				return
			}
		}
	}
}
