package native

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// scriptedPeer accepts one connection from the client, answers its
// handshake (with the fast extension and the extension protocol if fast),
// sends msgs, and reports on
// the returned channel whether the client then dropped the connection
// (true) or kept it open for 3 s (false).
func scriptedPeer(t *testing.T, infoHash [20]byte, fast bool, msgs ...[]byte) (netip.AddrPort, <-chan bool) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	dropped := make(chan bool, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		hs := make([]byte, 68)
		if _, err := io.ReadFull(c, hs); err != nil {
			return
		}
		reply := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
		if fast { // and the extension protocol
			reply[20+7] |= 0x04
			reply[20+5] |= 0x10
		}
		reply = append(reply, infoHash[:]...)
		reply = append(reply, []byte("-XX0000-scriptedpeer")...)
		c.Write(reply)
		for _, m := range msgs {
			c.Write(m)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		dropped <- !(errors.As(err, &ne) && ne.Timeout())
	}()
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	return ap, dropped
}

func msg(typ byte, payload ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	return append(append(b, typ), payload...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// A peer that breaks the protocol is dropped, and the download goes on
// from an honest seeder; a peer that only sends what it may is kept.
func TestHostilePeers(t *testing.T) {
	// 40 pieces: a bitfield of 5 bytes whose last byte has no spare bits.
	// 42 pieces would leave 6 spare bits; use 41 (7 spare bits).
	tr := enginetest.Generate(t, enginetest.Content{Name: "h.bin", Size: 41 * 16 << 10, PieceLength: 16 << 10, Seed: 8})
	m, err := ParseTorrent(tr.MetaInfo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		fast bool
		msgs [][]byte
		drop bool
	}{
		{"bitfield too short", false, [][]byte{msg(5, 0xff, 0xff)}, true},
		{"bitfield with spare bits", false, [][]byte{msg(5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)}, true},
		{"have out of range", false, [][]byte{msg(4, u32(41)...)}, true},
		{"have of 5 bytes", false, [][]byte{msg(4, 0, 0, 0, 1, 0)}, true},
		{"huge message", false, [][]byte{binary.BigEndian.AppendUint32(nil, 1<<30)}, true},
		{"have-all without the fast extension", false, [][]byte{msg(14)}, true},
		{"reject without the fast extension", false, [][]byte{msg(16, make([]byte, 12)...)}, true},
		{"bitfield after haves (aria2 sends them)", false, [][]byte{msg(4, u32(1)...), msg(5, 0x80, 0, 0, 0, 0, 0)}, false},
		{"unasked block is dropped quietly", false, [][]byte{msg(7, append(append(u32(0), u32(0)...), make([]byte, 16<<10)...)...)}, false},
		{"unknown message type", false, [][]byte{msg(99, 1, 2, 3)}, false},
		{"choke with a payload", false, [][]byte{msg(0, 1, 2, 3, 4)}, true},
		{"unchoke with a payload", false, [][]byte{msg(1, 0, 0, 0, 0, 4)}, true},
		{"have-all with the fast extension", true, [][]byte{msg(14)}, false},
		{"keep-alives", false, [][]byte{{0, 0, 0, 0}, {0, 0, 0, 0}}, false},
		{"extension handshake", true, [][]byte{msg(20, append([]byte{0}, "d4:reqqi3e1:md6:ut_paxi9eee"...)...)}, false},
		{"extension message of an unknown id", true, [][]byte{msg(20, 7, 1, 2)}, false},
		{"malformed extension handshake", true, [][]byte{msg(20, append([]byte{0}, "d4:reqq"...)...)}, true},
		{"extension message without BEP 10", false, [][]byte{msg(20, 0, 'd', 'e')}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits up to 3 s for a drop that may not come
			// The scripted peer speaks plaintext and accepts one
			// connection: under the default policy (prefer) the client
			// would spend it on an MSE handshake first.
			c := newClient(t, Config{Encryption: EncryptionDisable})
			tt, err := c.Add(m)
			if err != nil {
				t.Fatal(err)
			}
			addr, dropped := scriptedPeer(t, m.InfoHash, tc.fast, tc.msgs...)
			tt.AddPeers([]netip.AddrPort{addr})
			select {
			case got := <-dropped:
				if got != tc.drop {
					t.Fatalf("dropped %v, want %v", got, tc.drop)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("peer never connected")
			}
		})
	}
	// A client that meets a protocol breaker beside a seeder still
	// downloads.
	c := newClient(t, Config{})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	bad, _ := scriptedPeer(t, m.InfoHash, false, msg(5, 0xff))
	tt.AddPeers([]netip.AddrPort{bad, addrOf(t, seeder.Addr)})
	waitDone(t, tt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
}
