package engine

import (
	"sync/atomic"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/mse"
)

// anacrolixNet is what of the network policy the anacrolix core can
// change while it runs (SetNetwork). Its ClientConfig is read without a
// lock, so no field of it may change; what goes through callbacks of
// ours may. The encryption policy in force is read by the MSE method
// selector and by a PeerConnAdded callback that closes a connection the
// policy refuses; the handshakes themselves (HeaderObfuscationPolicy,
// CryptoProvides) stay as the engine started, so a changed policy is
// enforced by closing what breaks it and stays pending a restart
// (under require, a plaintext peer connects, then is dropped at once).
// Everything else (binding, proxy, anonymity) waits for a restart.
type anacrolixNet struct {
	encryption atomic.Pointer[string]
}

// newAnacrolixNet starts from policy and hooks cc's selector and
// callbacks to it.
func newAnacrolixNet(cc *torrent.ClientConfig, policy string) *anacrolixNet {
	n := &anacrolixNet{}
	p := policy
	if p == "" {
		p = EncryptionPrefer
	}
	n.encryption.Store(&p)
	cc.CryptoSelector = func(provided mse.CryptoMethod) mse.CryptoMethod {
		switch *n.encryption.Load() {
		case EncryptionRequire:
			return provided & mse.CryptoMethodRC4
		case EncryptionDisable:
			return 0 // no MSE handshake is acceptable
		}
		// As setEncryption picks for prefer: plaintext after the
		// handshake when offered.
		return mse.DefaultCryptoSelector(provided)
	}
	cc.Callbacks.PeerConnAdded = append(cc.Callbacks.PeerConnAdded, func(pc *torrent.PeerConn) {
		if n.breaks(pc) {
			go pc.Close() // callbacks run under the client's lock
		}
	})
	return n
}

// breaks reports whether pc's encryption is one the policy refuses.
func (n *anacrolixNet) breaks(pc *torrent.PeerConn) bool {
	switch c := anacrolixCrypto(pc); *n.encryption.Load() {
	case EncryptionRequire:
		return c != CryptoRC4
	case EncryptionDisable:
		return c != CryptoPlaintext
	}
	return false
}

// setEncryption puts policy in force and closes the connections of cl
// it refuses.
func (n *anacrolixNet) setEncryption(cl *torrent.Client, policy string) {
	n.encryption.Store(&policy)
	for _, t := range cl.Torrents() {
		for _, pc := range t.PeerConns() {
			if n.breaks(pc) {
				pc.Close()
			}
		}
	}
}

// SetNetwork enforces a changed encryption policy at once (see
// anacrolixNet) and reports every change from the start as pending.
func (e *anacrolixEngine) SetNetwork(n Network) []string {
	n = n.normal()
	e.net.setEncryption(e.cl, n.Encryption)
	return pending(e.started, n)
}
