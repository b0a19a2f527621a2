package engine

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/mse"

	"github.com/lodestone-bt/lodestone/internal/engine/native"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// Encryption policies of peer connections (Config.Encryption), the same
// on both cores: see native.EncryptionPrefer and its siblings for what
// each accepts.
const (
	// EncryptionPrefer: an MSE/PE handshake first when dialling, plaintext
	// if the peer hangs up on it; both accepted from peers that dial us.
	EncryptionPrefer = native.EncryptionPrefer
	// EncryptionRequire: MSE/PE with RC4 on the whole stream, both ways;
	// plaintext peers, and peers offering only plaintext after the MSE
	// handshake, are refused.
	EncryptionRequire = native.EncryptionRequire
	// EncryptionDisable: plaintext only, both ways.
	EncryptionDisable = native.EncryptionDisable
)

// Encryption of a connection, as PeerStat reports it.
const (
	CryptoPlaintext = native.CryptoPlaintext // no MSE/PE
	CryptoHeader    = native.CryptoHeader    // an MSE/PE handshake, then plaintext
	CryptoRC4       = native.CryptoRC4       // an MSE/PE handshake, then RC4
)

// CheckEncryption reports whether policy is an Encryption* policy ("" is
// EncryptionPrefer).
func CheckEncryption(policy string) error { return native.CheckEncryption(policy) }

// anonymousUserAgent is the User-Agent of HTTP tracker requests in
// anonymous mode, on both cores: a common HTTP client's, the one the
// anacrolix library picks for its own anonymous mode
// (version.AnonymousHttpUserAgent), naming neither Lodestone nor a
// BitTorrent library. (Go's default would name Go.)
const anonymousUserAgent = "curl/7.81.0"

// UserAgent is the User-Agent of HTTP tracker requests, and of the
// daemon's other requests to trackers' sites (.torrent and RSS
// downloads): Lodestone's name and version, or a generic one when
// anonymous.
func UserAgent(anonymous bool) string {
	if anonymous {
		return anonymousUserAgent
	}
	return version.UserAgent()
}

// setEncryption applies an encryption policy to the anacrolix client's
// configuration. Its HeaderObfuscationPolicy decides the handshakes:
// Preferred tries MSE first when dialling and RequirePreferred forbids
// the other kind, dialling and answering. CryptoProvides and
// CryptoSelector decide the stream after an MSE handshake.
func setEncryption(cc *torrent.ClientConfig, policy string) error {
	if err := CheckEncryption(policy); err != nil {
		return err
	}
	switch policy {
	case EncryptionRequire:
		cc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: true}
		cc.CryptoProvides = mse.CryptoMethodRC4
		// 0 (nothing acceptable) makes the MSE handshake fail.
		cc.CryptoSelector = func(provided mse.CryptoMethod) mse.CryptoMethod { return provided & mse.CryptoMethodRC4 }
	case EncryptionDisable:
		cc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: true}
		cc.CryptoProvides = mse.AllSupportedCrypto // never used: no MSE handshake is made
		cc.CryptoSelector = mse.DefaultCryptoSelector
	default:
		cc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: true, RequirePreferred: false}
		cc.CryptoProvides = mse.AllSupportedCrypto
		// Plaintext after the handshake when the peer offers it, as the
		// native core chooses: RC4 costs CPU on every byte.
		cc.CryptoSelector = mse.DefaultCryptoSelector
	}
	return nil
}

// setAnonymous takes the client's name and version out of what peers
// and trackers see: no "v" in the extension handshake, a peer ID of
// random bytes with no client prefix, a generic tracker User-Agent and
// no UPnP description. (The library's own AnonymousMode would give the
// peer ID libtorrent's prefix instead: claiming to be another client.)
func setAnonymous(cc *torrent.ClientConfig) error {
	cc.HTTPUserAgent = anonymousUserAgent
	cc.ExtendedHandshakeClientVersion = ""
	cc.Bep20 = ""
	cc.UpnpID = ""
	id, err := anonymousPeerID()
	if err != nil {
		return err
	}
	cc.PeerID = string(id[:])
	return nil
}

// anonymousPeerID is 20 random bytes that do not start with '-', which
// would read as a BEP 20 client prefix.
func anonymousPeerID() (id [20]byte, err error) {
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("peer id: %w", err)
	}
	if id[0] == '-' {
		id[0] = 'x'
	}
	return id, nil
}

// anacrolixCrypto reads a connection's encryption from its description:
// the library keeps it unexported, but String lists it among the
// connection's flags ("E": RC4, "e": header obfuscation only).
func anacrolixCrypto(pc *torrent.PeerConn) string {
	s := pc.String()
	i := strings.Index(s, "[flags=")
	if i < 0 {
		return ""
	}
	flags, _, _ := strings.Cut(s[i+len("[flags="):], " ")
	for f := range strings.SplitSeq(flags, ",") {
		switch f {
		case "E":
			return CryptoRC4
		case "e":
			return CryptoHeader
		}
	}
	return CryptoPlaintext
}
