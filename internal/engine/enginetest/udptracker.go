package enginetest

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
)

// UDPTracker is a minimal UDP tracker (BEP 15) that answers every
// announce with a fixed list of IPv4 peers and records where each
// datagram came from.
type UDPTracker struct {
	// URL is the announce URL (udp://host:port/announce).
	URL string
	pc  net.PacketConn

	mu        sync.Mutex
	peers     []netip.AddrPort
	sources   []string
	announces int
}

// StartUDPTracker serves a UDP tracker on host (a loopback address),
// answering with peers (IPv4 host:port), until the test ends.
func StartUDPTracker(t testing.TB, host string, peers ...string) *UDPTracker {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &UDPTracker{URL: "udp://" + pc.LocalAddr().String() + "/announce", pc: pc}
	for _, p := range peers {
		tr.peers = append(tr.peers, netip.MustParseAddrPort(p))
	}
	done := make(chan struct{})
	go func() { defer close(done); tr.serve() }()
	t.Cleanup(func() { pc.Close(); <-done })
	return tr
}

// Sources returns the sender of every datagram received, in order.
func (tr *UDPTracker) Sources() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.sources...)
}

// Announces returns how many announces the tracker answered.
func (tr *UDPTracker) Announces() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.announces
}

const udpProtocolID = 0x41727101980

func (tr *UDPTracker) serve() {
	b := make([]byte, 2048)
	for {
		n, from, err := tr.pc.ReadFrom(b)
		if err != nil {
			return
		}
		tr.mu.Lock()
		tr.sources = append(tr.sources, from.String())
		tr.mu.Unlock()
		if n < 16 {
			continue
		}
		action, tid := binary.BigEndian.Uint32(b[8:]), b[12:16]
		var reply []byte
		switch {
		case action == 0 && binary.BigEndian.Uint64(b) == udpProtocolID: // connect
			reply = binary.BigEndian.AppendUint32(nil, 0)
			reply = append(reply, tid...)
			reply = binary.BigEndian.AppendUint64(reply, 0x1234_5678_9abc_def0)
		case action == 1 && n >= 98: // announce
			tr.mu.Lock()
			tr.announces++
			reply = binary.BigEndian.AppendUint32(nil, 1)
			reply = append(reply, tid...)
			reply = binary.BigEndian.AppendUint32(reply, 60) // interval
			reply = binary.BigEndian.AppendUint32(reply, 0)  // leechers
			reply = binary.BigEndian.AppendUint32(reply, uint32(len(tr.peers)))
			for _, p := range tr.peers {
				reply = append(reply, p.Addr().AsSlice()...)
				reply = binary.BigEndian.AppendUint16(reply, p.Port())
			}
			tr.mu.Unlock()
		default:
			continue
		}
		tr.pc.WriteTo(reply, from)
	}
}
