package native

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A peer that opens with an encrypted handshake (MSE/PE, as aria2 and
// libtorrent do) is served, whether it then asks for plaintext or RC4:
// the block it requests arrives intact.
func TestEncryptedIncoming(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "enc.bin", Size: 3 * 16 << 10, PieceLength: 32 << 10, Seed: 51})
	src, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
	if err != nil {
		t.Fatal(err)
	}
	sc, st := seedFrom(t, tr, Config{})
	for _, method := range []mse.CryptoMethod{mse.CryptoMethodPlaintext, mse.CryptoMethodRC4} {
		t.Run(map[mse.CryptoMethod]string{mse.CryptoMethodPlaintext: "plaintext", mse.CryptoMethodRC4: "rc4"}[method], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := net.Dial("tcp", sc.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			ih := metainfo.Hash(st.InfoHash())
			rw, got, err := mse.InitiateHandshakeContext(ctx, conn, ih[:], nil, method)
			if err != nil || got != method {
				t.Fatalf("MSE handshake: method %v, %v", got, err)
			}
			var id [20]byte
			copy(id[:], "-XX0000-encryptedpee")
			if _, err := pp.Handshake(ctx, rw, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast)); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(rw)
			rw.Write(msg(2)) // interested
			rw.Write(msg(6, append(append(u32(1), u32(0)...), u32(16<<10)...)...))
			for {
				var lb [4]byte
				if _, err := io.ReadFull(r, lb[:]); err != nil {
					t.Fatal(err)
				}
				m := make([]byte, binary.BigEndian.Uint32(lb[:]))
				if _, err := io.ReadFull(r, m); err != nil {
					t.Fatal(err)
				}
				if len(m) == 0 {
					continue
				}
				switch pp.MessageType(m[0]) {
				case pp.Reject:
					// Asked before the unchoke: ask again.
					rw.Write(msg(6, append(append(u32(1), u32(0)...), u32(16<<10)...)...))
				case pp.Piece:
					if !bytes.Equal(m[9:], src[32<<10:48<<10]) {
						t.Fatal("block differs from the source")
					}
					return
				}
			}
		})
	}
}
