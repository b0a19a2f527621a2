package native

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// clientName is what the extension handshake calls us.
const clientName = "Lodestone"

// ourName is the client name our extension handshakes give ("v"): none
// in anonymous mode.
func (c *Client) ourName() string {
	if c.policy().Anonymous {
		return ""
	}
	return clientName
}

// newPeerID fills id with a fresh peer ID: Lodestone's prefix (BEP 20
// style, "-LS0100-") and random bytes, or random bytes only when
// anonymous, so that the ID names no client. An anonymous ID never
// starts with '-', which would read as a BEP 20 client prefix.
func newPeerID(id *[20]byte, anonymous bool) error {
	if anonymous {
		if _, err := rand.Read(id[:]); err != nil {
			return err
		}
		if id[0] == '-' {
			id[0] = 'x'
		}
		return nil
	}
	copy(id[:], "-LS0100-")
	_, err := rand.Read(id[8:])
	return err
}

// sendExtendedHandshake sends our BEP 10 handshake to a peer that speaks
// the extension protocol: ut_metadata (BEP 9) when we hold the info
// dictionary, our request-queue bound and listening port.
func (p *peer) sendExtendedHandshake() {
	hs := pp.ExtendedHandshakeMessage{
		M: map[pp.ExtensionName]pp.ExtensionNumber{},
		V: p.t.c.ourName(),
		// "e": we prefer encrypted connections (BEP 10), unless off.
		Encryption: p.t.c.policy().Encryption != EncryptionDisable,
		Reqq:       maxUploadQueue,
		Port:       int(p.t.c.Addr().Port()),
	}
	if !p.t.meta.Private {
		hs.M[pp.ExtensionNamePex] = utPexID
	}
	if n := len(p.t.meta.InfoBytes); n > 0 {
		hs.M[pp.ExtensionNameMetadata] = utMetadataID
		hs.MetadataSize = n
	}
	b, err := bencode.Marshal(hs)
	if err != nil {
		p.t.log.Error("encode extension handshake", "err", err)
		return
	}
	p.send(pp.Extended, append([]byte{0}, b...))
}

// onExtended reads an extension message (BEP 10). The peer's handshake
// bounds our pipeline to its request queue ("reqq"); every other message
// is dropped, as we announce none.
func (p *peer) onExtended(n int) error {
	if n < 1 {
		return fmt.Errorf("%w: empty extension message", errProtocol)
	}
	id, err := p.r.ReadByte()
	if err != nil {
		return err
	}
	n--
	if id == utMetadataID && len(p.t.meta.InfoBytes) > 0 {
		return p.onMetadataRequest(n)
	}
	if id == utPexID && !p.t.meta.Private {
		return p.onPex(n)
	}
	if id != 0 {
		_, err := p.r.Discard(n)
		return err
	}
	var hs pp.ExtendedHandshakeMessage
	if bad, err := p.readBencode(n, &hs); err != nil {
		return err
	} else if bad != nil {
		return fmt.Errorf("%w: extension handshake: %v", errProtocol, bad)
	}
	p.mu.Lock()
	p.peerUtMetadata = hs.M[pp.ExtensionNameMetadata]
	p.peerUtPex = hs.M[pp.ExtensionNamePex]
	p.client = clipName(hs.V)
	if hs.Port > 0 && hs.Port < 1<<16 {
		p.listenPort = uint16(hs.Port)
	}
	p.mu.Unlock()
	if !p.t.meta.Private {
		p.t.sendPex(p) // the first exchange, at once
	}
	if hs.Reqq > 0 {
		p.mu.Lock()
		p.maxDepth = min(maxDepth, max(hs.Reqq, 1))
		p.depth = min(p.depth, p.maxDepth)
		p.mu.Unlock()
	}
	return nil
}

// onMetadataRequest answers a request for a piece of the info dictionary
// (BEP 9) with the piece, or a reject for a piece out of range or a peer
// that named no ut_metadata of its own.
func (p *peer) onMetadataRequest(n int) error {
	var m pp.ExtendedMetadataRequestMsg
	if bad, err := p.readBencode(n, &m); err != nil {
		return err
	} else if bad != nil {
		return fmt.Errorf("%w: metadata message: %v", errProtocol, bad)
	}
	if m.Type != pp.RequestMetadataExtensionMsgType {
		return nil
	}
	p.mu.Lock()
	theirs := p.peerUtMetadata
	p.mu.Unlock()
	if theirs == 0 {
		return nil
	}
	info := p.t.meta.InfoBytes
	reply := pp.ExtendedMetadataRequestMsg{Piece: m.Piece, Type: pp.RejectMetadataExtensionMsgType}
	var data []byte
	if m.Piece >= 0 && m.Piece < (len(info)+metadataPiece-1)/metadataPiece {
		reply.Type, reply.TotalSize = pp.DataMetadataExtensionMsgType, len(info)
		data = info[m.Piece*metadataPiece : min(len(info), (m.Piece+1)*metadataPiece)]
	}
	enc, err := bencode.Marshal(reply)
	if err != nil {
		return err
	}
	payload := append(append([]byte{byte(theirs)}, enc...), data...)
	p.send(pp.Extended, payload)
	return nil
}

// readBencode reads an n-byte bencoded payload (n ≤ the read buffer) into
// v. err is a read error (the connection is done); bad is the payload's
// decoding error, for the caller to judge.
func (p *peer) readBencode(n int, v any) (bad, err error) {
	b, err := p.r.Peek(n)
	if err != nil {
		return nil, err
	}
	bad = bencode.Unmarshal(b, v)
	_, err = p.r.Discard(n)
	return bad, err
}

// clipName bounds a peer's self-given name and keeps it printable.
func clipName(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "")
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}
