package native

import (
	"bufio"
	"bytes"
	"net"
	"net/netip"
	"testing"
)

// FuzzPeerMessages feeds arbitrary bytes to a peer's message reader, as
// a remote peer would send them after the handshake: it must end in an
// error or the end of input, never a panic, and a peer that is cleaned up
// leaves the torrent's availability as it found it.
func FuzzPeerMessages(f *testing.F) {
	f.Add(msg(5, 0xff, 0x80), true)
	f.Add(append(msg(14), msg(1)...), true)
	f.Add(append(msg(4, u32(3)...), msg(7, append(append(u32(3), u32(0)...), 1, 2, 3)...)...), false)
	f.Add(append(msg(6, append(append(u32(0), u32(0)...), u32(16384)...)...), msg(2)...), true)
	f.Add(append(msg(16, make([]byte, 12)...), msg(8, make([]byte, 12)...)...), true)
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, false)
	c, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	dir := f.TempDir()
	m := Meta{Dir: dir, PieceLength: 16 << 10, Length: 9*16<<10 + 5, Files: []File{{Path: dir + "/x", Length: 9*16<<10 + 5}}}
	m.Hashes = make([][20]byte, 10)
	m.InfoBytes = make([]byte, 40000) // served to ut_metadata requests
	m.InfoHash[0] = 1
	tt, err := c.Add(m)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{0, 0, 0, 12, 20, 0}, []byte("d4:reqqi3ee")[:6]...), true)
	f.Add([]byte("\x00\x00\x00\x0d\x14\x00d4:reqqi3ee\x00"), true)
	ext := func(id byte, payload string) []byte { return msg(20, append([]byte{id}, payload...)...) }
	f.Add(append(ext(0, "d1:md11:ut_metadatai5eee"), ext(utMetadataID, "d8:msg_typei0e5:piecei2ee")...), true)
	f.Add(append(ext(0, "d1:md11:ut_metadatai5eee"), ext(utMetadataID, "d8:msg_typei0e5:piecei-1ee")...), true)
	f.Add(append(ext(0, "d1:md11:ut_metadatai5eee"), ext(utMetadataID, "d8:msg_typei0e5:piecei1152921504606846976ee")...), true)
	f.Add(ext(utPexID, "d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x00\x00e"), true)
	f.Fuzz(func(t *testing.T, data []byte, fast bool) {
		a, b := net.Pipe()
		defer b.Close()
		p := newPeer(tt, a, netip.MustParseAddrPort("127.0.0.1:1"), bufio.NewReaderSize(bytes.NewReader(data), readBufferSize), fast, fast)
		tt.mu.Lock()
		tt.peers[p] = struct{}{}
		tt.mu.Unlock()
		for p.readMessage() == nil {
			p.fill()
		}
		p.cleanup()
		tt.mu.Lock()
		defer tt.mu.Unlock()
		for i, n := range tt.avail {
			if n != 0 {
				t.Fatalf("piece %d available from %d peers after the only one left", i, n)
			}
		}
	})
}
