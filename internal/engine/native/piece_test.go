package native

import (
	"bytes"
	"crypto/sha1"
	"math/rand/v2"
	"testing"
)

func pieceData(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func block(data []byte, b int) []byte {
	lo := b * blockSize
	return data[lo:min(lo+blockSize, len(data))]
}

// Blocks in any order, some twice, give the piece's SHA-1: the in-order
// hashing catches up over whatever became contiguous.
func TestPieceAnyOrder(t *testing.T) {
	for _, length := range []int{1, blockSize, 5*blockSize + 7, 16 * blockSize} {
		data := pieceData(length, uint64(length))
		pc := newPiece(3, length, alignedBytes(16*blockSize))
		order := rand.New(rand.NewPCG(9, uint64(length))).Perm(pc.nblocks)
		a, b := &peer{}, &peer{}
		for i, blk := range order {
			fresh, complete := pc.put(blk, block(data, blk), a)
			if !fresh || complete != (i == len(order)-1) {
				t.Fatalf("length %d: block %d (%d of %d): fresh %v complete %v", length, blk, i, len(order), fresh, complete)
			}
			// The same block again (end-game duplicate) is not fresh and
			// changes nothing.
			if fresh, complete := pc.put(blk, bytes.Repeat([]byte{0xff}, len(block(data, blk))), b); fresh || complete {
				t.Fatalf("duplicate block %d taken", blk)
			}
		}
		if pc.sum() != sha1.Sum(data) || !bytes.Equal(pc.buf, data) {
			t.Fatalf("length %d: piece differs from its data", length)
		}
	}
}

// A piece that fails from one peer names that peer; when it later
// passes, a peer whose blocks of the failed attempt differ from the good
// data is named, and one whose blocks were right is not.
func TestPieceSmartBan(t *testing.T) {
	data := pieceData(8*blockSize, 1)
	liar, honest, other := &peer{}, &peer{}, &peer{}
	pc := newPiece(0, len(data), alignedBytes(len(data)))
	bad := bytes.Clone(data)
	bad[5] ^= 1
	for b := range pc.nblocks {
		pc.put(b, block(bad, b), liar)
	}
	if pc.sum() == sha1.Sum(data) {
		t.Fatal("corrupt piece hashed right")
	}
	if c := pc.reset(); len(c) != 1 || c[0] != liar {
		t.Fatalf("culprits %v, want the only sender", c)
	}
	// Second attempt, two senders, one of which lies in block 3.
	for b := range pc.nblocks {
		src, who := data, honest
		if b%2 == 1 {
			who = other
		}
		if b == 3 {
			src = bad
			bad3 := bytes.Clone(data)
			bad3[3*blockSize] ^= 1
			src = bad3
		}
		pc.put(b, block(src, b), who)
	}
	if pc.sum() == sha1.Sum(data) {
		t.Fatal("second corrupt attempt hashed right")
	}
	if c := pc.reset(); len(c) != 0 {
		t.Fatalf("culprits %v from a piece of two senders", c)
	}
	for b := range pc.nblocks {
		pc.put(b, block(data, b), honest)
	}
	if pc.sum() != sha1.Sum(data) {
		t.Fatal("good piece hashed wrong")
	}
	got := pc.liars()
	if len(got) != 1 || got[0] != other {
		t.Fatalf("liars %v, want the peer that sent block 3", got)
	}
}

// Requests: each block is handed out once; a block given up is handed out
// again; in end-game a block already received never is, and one the
// peer itself asked for is skipped.
func TestPieceRequests(t *testing.T) {
	pc := newPiece(0, 3*blockSize, alignedBytes(3*blockSize))
	none := func(int) bool { return false }
	var got []int
	for b := pc.nextRequestLocked(false, none); b >= 0; b = pc.nextRequestLocked(false, none) {
		got = append(got, b)
	}
	if len(got) != 3 {
		t.Fatalf("handed out %v", got)
	}
	pc.giveUp(1)
	if b := pc.nextRequestLocked(false, none); b != 1 {
		t.Fatalf("after giving up block 1, handed out %d", b)
	}
	pc.put(0, make([]byte, blockSize), &peer{})
	if b := pc.nextRequestLocked(true, func(b int) bool { return b == 1 }); b != 2 {
		t.Fatalf("end-game handed out %d, want 2", b)
	}
}
