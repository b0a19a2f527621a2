package native

import (
	"sync"
	"unsafe"
)

// bufferPool lends piece buffers, bounded in bytes: a piece is picked only
// when a buffer for it can be had, so the memory held by pieces in flight
// and waiting to be written never exceeds the limit (beyond one piece, so
// that a piece larger than the limit can still be fetched alone).
type bufferPool struct {
	limit int64

	mu   sync.Mutex
	used int64
	free map[int][][]byte // by capacity
}

func newBufferPool(limit int64) *bufferPool {
	return &bufferPool{limit: limit, free: make(map[int][][]byte)}
}

// get returns a buffer of n bytes, or nil if the pool is spent.
func (p *bufferPool) get(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used > 0 && p.used+int64(n) > p.limit {
		return nil
	}
	p.used += int64(n)
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		return b
	}
	return alignedBytes(n)
}

// alignment is what direct I/O asks of buffers, offsets and lengths: a
// page, a multiple of every device's logical block size.
const alignment = 4096

// alignedBytes allocates n bytes starting at a multiple of alignment.
func alignedBytes(n int) []byte {
	raw := make([]byte, n+alignment)
	off := (alignment - int(uintptr(unsafe.Pointer(&raw[0]))%alignment)) % alignment
	return raw[off : off+n : off+n]
}

// available reports whether get(n) would succeed now.
func (p *bufferPool) available(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used == 0 || p.used+int64(n) <= p.limit
}

// put returns a buffer taken with get.
func (p *bufferPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= int64(len(b))
	p.free[len(b)] = append(p.free[len(b)], b)
}

// inUse reports the bytes lent out.
func (p *bufferPool) inUse() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used
}
