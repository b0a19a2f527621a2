package native

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A magnet's torrent downloads end to end: the info dictionary fetched
// from peers (the engine's seeder, the native core's, or one found
// through a tracker), checked against the info-hash, then the data.
func TestMagnet(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(71))
	engineSeeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	nativeSeeder, _ := seedFrom(t, tr, Config{})
	tracker := enginetest.StartTracker(t, engineSeeder.Addr)
	cases := []struct {
		name     string
		peers    []netip.AddrPort
		trackers []string
	}{
		{"from the engine", []netip.AddrPort{addrOf(t, engineSeeder.Addr)}, nil},
		{"from the native core", []netip.AddrPort{nativeSeeder.Addr()}, nil},
		{"through a tracker", nil, []string{tracker.URL}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enginetest.SameFiles(t, tr, magnet(t, tr, tc.peers, tc.trackers))
		})
	}
}

// magnet downloads tr as a magnet would: its info dictionary fetched from
// peers and trackers and checked to be tr's, then its data from them,
// into a new folder, which it returns.
func magnet(t *testing.T, tr *enginetest.Torrent, peers []netip.AddrPort, trackers []string) string {
	t.Helper()
	return magnetWith(t, Config{}, tr, peers, trackers)
}

// magnetWith is magnet with a client made from cfg.
func magnetWith(t *testing.T, cfg Config, tr *enginetest.Torrent, peers []netip.AddrPort, trackers []string) string {
	t.Helper()
	m0, err := ParseTorrent(tr.MetaInfo, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := c.FetchMetadata(ctx, m0.InfoHash, peers, trackers)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(info, m0.InfoBytes) {
		t.Fatal("fetched info differs from the torrent's")
	}
	dl := t.TempDir()
	m, err := ParseInfo(info, dl, trackers)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := c.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	tt.AddPeers(peers)
	waitDone(t, tt, 90*time.Second)
	return dl
}

// A peer that serves an info dictionary of the right size but the wrong
// bytes is dropped, and the metadata comes from an honest peer; with only
// liars, the fetch ends with ErrNoMetadata.
func TestMagnetLiar(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "liar.bin", Size: 1 << 20, Seed: 72})
	m0, _ := ParseTorrent(tr.MetaInfo, t.TempDir())
	liar := metadataLiar(t, m0.InfoHash, len(m0.InfoBytes))
	c := newClient(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.FetchMetadata(ctx, m0.InfoHash, []netip.AddrPort{liar}, nil); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("from a liar alone: %v, want ErrNoMetadata", err)
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	info, err := c.FetchMetadata(ctx, m0.InfoHash, []netip.AddrPort{metadataLiar(t, m0.InfoHash, len(m0.InfoBytes)), addrOf(t, seeder.Addr)}, nil)
	if err != nil || sha1.Sum(info) != m0.InfoHash {
		t.Fatalf("with a liar and a seeder: %v", err)
	}
}

// metadataLiar serves, on every connection, an info dictionary of size
// bytes that is all zeros.
func metadataLiar(t *testing.T, infoHash [20]byte, size int) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				var id [20]byte
				copy(id[:], "-XX0000-metadataliar")
				if _, err := pp.Handshake(context.Background(), c, nil, id, pp.NewPeerExtensionBytes(pp.ExtensionBitLtep)); err != nil {
					return
				}
				hs, _ := bencode.Marshal(pp.ExtendedHandshakeMessage{M: map[pp.ExtensionName]pp.ExtensionNumber{pp.ExtensionNameMetadata: 9}, MetadataSize: size})
				c.Write(msg(20, append([]byte{0}, hs...)...))
				r := bufio.NewReader(c)
				var theirs byte
				for {
					typ, payload, err := readMessage(r, 1<<20)
					if err != nil {
						return
					}
					if typ != pp.Extended || len(payload) == 0 {
						continue
					}
					if payload[0] == 0 {
						var phs pp.ExtendedHandshakeMessage
						bencode.Unmarshal(payload[1:], &phs)
						theirs = byte(phs.M[pp.ExtensionNameMetadata])
						continue
					}
					var m pp.ExtendedMetadataRequestMsg
					if bencode.Unmarshal(payload[1:], &m) != nil {
						return
					}
					d, _ := bencode.Marshal(pp.ExtendedMetadataRequestMsg{Piece: m.Piece, Type: pp.DataMetadataExtensionMsgType, TotalSize: size})
					n := min(metadataPiece, size-m.Piece*metadataPiece)
					c.Write(msg(20, append(append([]byte{theirs}, d...), make([]byte, n)...)...))
				}
			}()
		}
	}()
	ap, _ := netip.ParseAddrPort(ln.Addr().String())
	return ap
}
