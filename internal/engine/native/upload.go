package native

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

const (
	// maxUploadQueue bounds the requests a peer may have waiting on us
	// (libtorrent's default max_allowed_in_request_queue); more are
	// refused.
	maxUploadQueue = 500
	// maxRequestLength is the largest block we serve (128 KiB: more than
	// any client asks; 16 KiB is the norm).
	maxRequestLength = 128 << 10
	// uploadBatch is about how much piece data one write carries.
	uploadBatch = 256 << 10
	// readAhead is how much of a piece the writer reads at once to serve
	// a peer's requests in order.
	readAhead = 256 << 10
)

// blockReq is a request for a block: a piece, an offset in it, a length.
type blockReq struct{ index, begin, length int }

func (r blockReq) payload() []byte {
	b := make([]byte, 0, 12)
	b = binary.BigEndian.AppendUint32(b, uint32(r.index))
	b = binary.BigEndian.AppendUint32(b, uint32(r.begin))
	return binary.BigEndian.AppendUint32(b, uint32(r.length))
}

// onRequest queues a request the peer may make: a block of a piece we
// have, while we do not choke it. Anything else is refused (a reject,
// under BEP 6) but for nonsense, which drops the connection.
func (p *peer) onRequest(r blockReq) error {
	if r.index < 0 || r.index >= len(p.t.meta.Hashes) || r.length <= 0 || r.length > maxRequestLength ||
		r.begin < 0 || r.begin+r.length > p.t.meta.pieceLen(r.index) {
		return fmt.Errorf("%w: request %d/%d+%d", errProtocol, r.index, r.begin, r.length)
	}
	ok := p.t.has(r.index)
	p.omu.Lock()
	ok = ok && !p.choking && len(p.uploads) < maxUploadQueue
	if ok {
		p.uploads = append(p.uploads, r)
	}
	p.omu.Unlock()
	if !ok && p.fast {
		p.send(pp.Reject, r.payload())
	}
	if ok {
		p.kick()
	}
	return nil
}

// onCancel drops a queued request; under BEP 6 it is rejected.
func (p *peer) onCancel(r blockReq) {
	p.omu.Lock()
	found := false
	for i, q := range p.uploads {
		if q == r {
			p.uploads = append(p.uploads[:i], p.uploads[i+1:]...)
			found = true
			break
		}
	}
	p.omu.Unlock()
	if found && p.fast {
		p.send(pp.Reject, r.payload())
	}
}

// setChoking chokes or unchokes the peer. Choking drops its queued
// requests (rejected under BEP 6).
func (p *peer) setChoking(c bool) {
	p.omu.Lock()
	if p.choking == c {
		p.omu.Unlock()
		return
	}
	p.choking = c
	var dropped []blockReq
	if c {
		dropped, p.uploads = p.uploads, nil
	}
	p.omu.Unlock()
	if c {
		p.send(pp.Choke, nil)
		if p.fast {
			for _, r := range dropped {
				p.send(pp.Reject, r.payload())
			}
		}
		return
	}
	p.send(pp.Unchoke, nil)
}

// takeUploadsLocked takes about a batch of queued requests. Called with
// p.omu held.
func (p *peer) takeUploadsLocked() []blockReq {
	n, size := 0, 0
	for n < len(p.uploads) && size < uploadBatch {
		size += p.uploads[n].length
		n++
	}
	if n == 0 {
		return nil
	}
	ups := append([]blockReq(nil), p.uploads[:n]...)
	p.uploads = p.uploads[n:]
	return ups
}

// upWindow is the part of a piece the writer last read from disk.
type upWindow struct {
	buf        []byte
	index, off int
	n          int
}

func (w *upWindow) holds(r blockReq) bool {
	return w.buf != nil && w.index == r.index && r.begin >= w.off && r.begin+r.length <= w.off+w.n
}

// writeBatch sends queued messages and the blocks asked for, in one
// gathered write per read-ahead window.
func (p *peer) writeBatch(msgs []byte, ups []blockReq) error {
	var bufs net.Buffers
	if len(msgs) > 0 {
		bufs = append(bufs, msgs)
	}
	hdrs := make([]byte, 0, 13*len(ups))
	for _, r := range ups {
		if !p.upWindow.holds(r) {
			if err := p.flush(&bufs); err != nil {
				return err
			}
			if err := p.readWindow(r); err != nil {
				return err
			}
		}
		h := len(hdrs)
		hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(9+r.length))
		hdrs = append(hdrs, byte(pp.Piece))
		hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(r.index))
		hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(r.begin))
		if err := p.t.waitUp(r.length); err != nil {
			return err
		}
		lo := r.begin - p.upWindow.off
		bufs = append(bufs, hdrs[h:h+13], p.upWindow.buf[lo:lo+r.length])
		p.uploaded.Add(int64(r.length))
		p.t.uploaded.Add(int64(r.length))
	}
	return p.flush(&bufs)
}

func (p *peer) flush(bufs *net.Buffers) error {
	if len(*bufs) == 0 {
		return nil
	}
	p.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := bufs.WriteTo(p.w)
	if bw, ok := p.w.(*bufio.Writer); ok && err == nil { // uTP: one write per packetful
		err = bw.Flush()
	}
	*bufs = (*bufs)[:0]
	return err
}

// readWindow reads from disk the part of r's piece that starts with r:
// up to readAhead bytes, to the piece's end.
func (p *peer) readWindow(r blockReq) error {
	w := &p.upWindow
	if w.buf == nil {
		w.buf = make([]byte, max(readAhead, maxRequestLength))
	}
	n := min(len(w.buf), p.t.meta.pieceLen(r.index)-r.begin)
	off := int64(r.index)*p.t.meta.PieceLength + int64(r.begin)
	w.index, w.off, w.n = -1, 0, 0
	p.t.upReads.Add(1)
	if err := p.t.store.readAt(w.buf[:n], off); err != nil {
		p.t.log.Error("read for upload failed", "piece", r.index, "err", err)
		return err
	}
	w.index, w.off, w.n = r.index, r.begin, n
	return nil
}
