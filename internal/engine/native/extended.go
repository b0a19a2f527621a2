package native

import (
	"fmt"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// clientName is what the extension handshake calls us.
const clientName = "Lodestone"

// sendExtendedHandshake sends our BEP 10 handshake to a peer that speaks
// the extension protocol: no extension messages yet, our request-queue
// bound and listening port.
func (p *peer) sendExtendedHandshake() {
	hs := pp.ExtendedHandshakeMessage{
		M:    map[pp.ExtensionName]pp.ExtensionNumber{},
		V:    clientName,
		Reqq: maxUploadQueue,
		Port: int(p.t.c.Addr().Port()),
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
	if id != 0 {
		_, err := p.r.Discard(n)
		return err
	}
	b, err := p.r.Peek(n)
	if err != nil {
		return err
	}
	var hs pp.ExtendedHandshakeMessage
	err = bencode.Unmarshal(b, &hs)
	p.r.Discard(n)
	if err != nil {
		return fmt.Errorf("%w: extension handshake: %v", errProtocol, err)
	}
	if hs.Reqq > 0 {
		p.mu.Lock()
		p.maxDepth = min(maxDepth, max(hs.Reqq, 1))
		p.depth = min(p.depth, p.maxDepth)
		p.mu.Unlock()
	}
	return nil
}
