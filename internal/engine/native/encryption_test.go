package native

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Each encryption policy (issue 18) against each way a peer can open a
// connection to us: a plaintext handshake, or an MSE handshake offering
// plaintext after it, RC4, or both. An accepted peer gets our BitTorrent
// handshake and appears in Peers with the encryption the peers agreed
// on; a refused one is hung up on before it gets a byte of BitTorrent
// handshake. The peer is the mse package, driven by hand.
func TestEncryptionPolicyIncoming(t *testing.T) {
	const refused = ""
	offers := []struct {
		name  string
		mse   bool
		offer mse.CryptoMethod
	}{
		{"plaintext handshake", false, 0},
		{"MSE offering plaintext", true, mse.CryptoMethodPlaintext},
		{"MSE offering RC4", true, mse.CryptoMethodRC4},
		{"MSE offering both", true, mse.AllSupportedCrypto},
	}
	want := map[string][]string{ // by policy, in the order of offers
		EncryptionPrefer:  {CryptoPlaintext, CryptoHeader, CryptoRC4, CryptoHeader},
		EncryptionRequire: {refused, refused, CryptoRC4, CryptoRC4},
		EncryptionDisable: {CryptoPlaintext, refused, refused, refused},
	}
	tr := enginetest.Generate(t, enginetest.Content{Name: "policy.bin", Size: 64<<10 + 7, Seed: 52})
	for policy, wants := range want {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			sc, st := seedFrom(t, tr, Config{Encryption: policy})
			ih := metainfo.Hash(st.InfoHash())
			for i, o := range offers {
				t.Run(o.name, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					conn, err := net.Dial("tcp", sc.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					conn.SetDeadline(time.Now().Add(20 * time.Second))
					var id [20]byte
					copy(id[:], "-XX0000-policypeer00")
					err = handshakeAs(ctx, conn, ih, id, o.mse, o.offer)
					if wants[i] == refused {
						if err == nil {
							t.Fatalf("%s accepted under %s", o.name, policy)
						}
						return
					}
					if err != nil {
						t.Fatalf("%s refused under %s: %v", o.name, policy, err)
					}
					got := waitPeer(t, st, addrOf(t, conn.LocalAddr().String()))
					if got != wants[i] {
						t.Errorf("Peers: encryption %q, want %q", got, wants[i])
					}
				})
			}
		})
	}
}

// handshakeAs opens a connection the way a peer would: with an MSE
// handshake offering offer first when encrypted, then the BitTorrent
// handshake.
func handshakeAs(ctx context.Context, conn net.Conn, ih metainfo.Hash, id [20]byte, encrypted bool, offer mse.CryptoMethod) error {
	var rw io.ReadWriter = conn
	if encrypted {
		var err error
		if rw, _, err = mse.InitiateHandshakeContext(ctx, conn, ih[:], nil, offer); err != nil {
			return err
		}
	}
	res, err := pp.Handshake(ctx, rw, &ih, id, pp.NewPeerExtensionBytes(pp.ExtensionBitFast))
	if err != nil {
		return err
	}
	if res.Hash != ih {
		return errors.New("answered for another torrent")
	}
	return nil
}

// waitPeer waits until st lists the peer at addr, and returns its
// encryption.
func waitPeer(t *testing.T, st *Torrent, addr netip.AddrPort) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range st.Peers() {
			if p.Addr == addr {
				return p.Encryption
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the peer never joined")
	return ""
}
