package native

import "math/bits"

// bitset is a set of piece or block indices in the wire's bitfield layout:
// index 0 is the high bit of the first byte.
type bitset []byte

func newBitset(n int) bitset { return make(bitset, (n+7)/8) }

func (b bitset) get(i int) bool { return b[i>>3]&(0x80>>(i&7)) != 0 }

func (b bitset) set(i int) { b[i>>3] |= 0x80 >> (i & 7) }

func (b bitset) clear(i int) { b[i>>3] &^= 0x80 >> (i & 7) }

func (b bitset) count() int {
	n := 0
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return n
}

// validFor reports whether b is a well-formed bitfield for n pieces: the
// right length and no bit set past the last piece (BEP 3 says such a
// bitfield drops the connection).
func (b bitset) validFor(n int) bool {
	if len(b) != (n+7)/8 {
		return false
	}
	if n%8 == 0 {
		return true
	}
	return b[len(b)-1]&(0xff>>(n%8)) == 0
}
