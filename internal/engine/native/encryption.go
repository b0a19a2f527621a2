package native

import (
	"fmt"

	"github.com/anacrolix/torrent/mse"
)

// Encryption policies: whether peer connections use MSE/PE (BEP 8's
// "message stream encryption", as libtorrent, Transmission and
// qBittorrent speak it).
const (
	// EncryptionPrefer dials with an encrypted handshake first and falls
	// back to plaintext when the peer hangs up on it; it accepts both.
	// After the handshake the stream is RC4 or plaintext, as the peers
	// agree (we choose plaintext when offered: RC4 on every byte costs
	// more CPU than SHA-1, and the obfuscated handshake already hides the
	// protocol from simple pattern matching).
	EncryptionPrefer = "prefer"
	// EncryptionRequire speaks MSE only, in both directions, and RC4 for
	// the whole stream: a peer that sends a plaintext handshake, or that
	// offers only plaintext after the MSE handshake, is refused. Plaintext
	// after an obfuscated handshake would leave the BitTorrent handshake
	// and every message readable on the wire.
	EncryptionRequire = "require"
	// EncryptionDisable speaks plaintext only: no encrypted handshake is
	// offered and an incoming one is refused.
	EncryptionDisable = "disable"
)

// Encryption of a connection, as PeerStat reports it.
const (
	// CryptoPlaintext: a plain BitTorrent handshake, no MSE.
	CryptoPlaintext = "plaintext"
	// CryptoHeader: an MSE handshake, then plaintext (header
	// obfuscation only).
	CryptoHeader = "header"
	// CryptoRC4: an MSE handshake, then RC4 on the whole stream.
	CryptoRC4 = "rc4"
)

// CheckEncryption reports whether policy is one of the Encryption*
// policies ("" is EncryptionPrefer).
func CheckEncryption(policy string) error {
	switch policy {
	case "", EncryptionPrefer, EncryptionRequire, EncryptionDisable:
		return nil
	}
	return fmt.Errorf("encryption %q: want %s, %s or %s", policy, EncryptionPrefer, EncryptionRequire, EncryptionDisable)
}

// cryptoProvides is what we offer when we start an MSE handshake under
// policy.
func cryptoProvides(policy string) mse.CryptoMethod {
	if policy == EncryptionRequire {
		return mse.CryptoMethodRC4
	}
	return mse.AllSupportedCrypto
}

// cryptoSelector chooses, as the receiver of an MSE handshake, among the
// methods the peer provides; 0 refuses the peer.
func cryptoSelector(policy string) mse.CryptoSelector {
	return func(provided mse.CryptoMethod) mse.CryptoMethod {
		switch {
		case policy == EncryptionRequire:
			return provided & mse.CryptoMethodRC4
		case provided&mse.CryptoMethodPlaintext != 0:
			return mse.CryptoMethodPlaintext
		default:
			return provided & mse.CryptoMethodRC4
		}
	}
}

// cryptoName names the encryption of a connection after its MSE
// handshake chose method (0: there was none).
func cryptoName(method mse.CryptoMethod) string {
	switch method {
	case mse.CryptoMethodRC4:
		return CryptoRC4
	case mse.CryptoMethodPlaintext:
		return CryptoHeader
	}
	return CryptoPlaintext
}
