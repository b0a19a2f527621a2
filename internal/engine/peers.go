package engine

import (
	"fmt"
	"strings"

	"github.com/anacrolix/torrent"
)

// PeerStat describes one connected peer.
type PeerStat struct {
	Addr string
	// Client is the peer's self-reported client name, "" if unknown.
	Client string
	// Network is "tcp" or "utp"-like ("udp4", "udp6").
	Network string
	// Source is how the peer was found: tracker, DHT, PEX, incoming,
	// direct (magnet x.pe), ...
	Source string
	// Downloaded and Uploaded are payload bytes from and to the peer.
	Downloaded, Uploaded int64
	// DownloadRate is bytes per second while data was expected from it;
	// UploadRate bytes per second of its last upload burst.
	DownloadRate, UploadRate int64
	// Progress is the fraction of pieces the peer has, 0 to 1 (0 before
	// the metadata is known).
	Progress float64
	// Flags describe the connection: "utp", "incoming", "seed".
	Flags []string
	// Encryption is the connection's: CryptoRC4, CryptoHeader or
	// CryptoPlaintext.
	Encryption string
}

// Peers returns the connected peers.
func (t *anacrolixTorrent) Peers() []PeerStat {
	var pieces int
	if info := t.t.Info(); info != nil {
		pieces = info.NumPieces()
	}
	conns := t.t.PeerConns()
	out := make([]PeerStat, 0, len(conns))
	for _, pc := range conns {
		st := pc.Stats()
		ps := PeerStat{
			Addr:         fmt.Sprint(pc.RemoteAddr),
			Network:      pc.Network,
			Source:       peerSource(pc.Discovery),
			Downloaded:   st.BytesReadUsefulData.Int64(),
			Uploaded:     st.BytesWrittenData.Int64(),
			DownloadRate: int64(st.DownloadRate),
			UploadRate:   int64(st.LastWriteUploadRate),
			Encryption:   anacrolixCrypto(pc),
		}
		if v, ok := pc.PeerClientName.Load().(string); ok {
			ps.Client = v
		}
		if pieces > 0 {
			ps.Progress = float64(st.RemotePieceCount) / float64(pieces)
		}
		ps.Flags = []string{}
		if strings.HasPrefix(pc.Network, "udp") {
			ps.Flags = append(ps.Flags, "utp")
		}
		if pc.Discovery == torrent.PeerSourceIncoming {
			ps.Flags = append(ps.Flags, "incoming")
		}
		if pieces > 0 && st.RemotePieceCount == pieces {
			ps.Flags = append(ps.Flags, "seed")
		}
		out = append(out, ps)
	}
	return out
}

// peerSource names the engine's one-letter peer sources.
func peerSource(s torrent.PeerSource) string {
	switch s {
	case torrent.PeerSourceTracker:
		return "tracker"
	case torrent.PeerSourceIncoming:
		return "incoming"
	case torrent.PeerSourceDhtGetPeers, torrent.PeerSourceDhtAnnouncePeer:
		return "dht"
	case torrent.PeerSourcePex:
		return "pex"
	case torrent.PeerSourceLPD:
		return "lan"
	case torrent.PeerSourceUtHolepunch:
		return "holepunch"
	case torrent.PeerSourceDirect:
		return "direct"
	}
	return "unknown"
}
