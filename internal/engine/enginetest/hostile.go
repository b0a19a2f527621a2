package enginetest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

// A hostile peer and a hostile tracker on 127.0.0.1, for tests that feed the
// engine crafted protocol input. Both speak just enough of the protocol to
// get the crafted part read: the peer does the BitTorrent handshake with the
// extension bit set and the BEP 10 extended handshake, answers BEP 9
// (ut_metadata) requests with chosen bytes, and sends chosen raw messages;
// the tracker answers every request with a chosen status, headers and body.

// btProtocol is the BitTorrent handshake's protocol string, length-prefixed.
const btProtocol = "\x13BitTorrent protocol"

// The peer wire as used here: the extended message id (BEP 10), the
// extended handshake's extension number, the metadata extension's name
// (BEP 9), and the longest message the hostile peer reads.
const (
	msgExtended      = 20
	extHandshakeID   = 0
	utMetadataName   = "ut_metadata"
	maxHostileMsgLen = 1 << 20
)

// HostilePeerOptions script a HostilePeer. The zero value completes the
// handshakes and then only reads.
type HostilePeerOptions struct {
	// InfoHash (lowercase hex) restricts the peer to one torrent: a
	// handshake for another one is hung up on. Empty answers any
	// info-hash.
	InfoHash string
	// ExtHandshake is the bencoded payload of the BEP 10 extended
	// handshake sent right after the BitTorrent handshake; build it with
	// ExtHandshake, or write any bytes. Nil sends ExtHandshake(1, "").
	ExtHandshake []byte
	// Metadata, when non-nil, is served in answer to ut_metadata
	// requests (16 KiB pieces, total_size len(Metadata)): a forged info
	// dictionary, say. Nil leaves requests unanswered.
	Metadata []byte
	// Messages returns raw peer-wire messages (the id byte and payload,
	// without the 4-byte length; see UTMetadataMsg) to send once the
	// engine's extended handshake has been read. ids holds the extension
	// numbers the engine advertised, such as ids["ut_metadata"]. Nil
	// sends nothing.
	Messages func(ids map[string]int) [][]byte
}

// HostilePeer is a scripted BitTorrent peer listening on 127.0.0.1. It
// stops when the test ends. Its counters are safe to read concurrently.
type HostilePeer struct {
	// Addr is the peer's 127.0.0.1:port, for a magnet's x.pe.
	Addr string

	opts HostilePeerOptions
	ln   net.Listener

	// Handshakes counts completed BitTorrent handshakes (plain ones; an
	// encrypted attempt is hung up on, so the engine retries in plain).
	Handshakes atomic.Int64
	// ExtHandshakes counts extended handshakes read from the engine.
	ExtHandshakes atomic.Int64
	// MetadataRequests, MetadataData and MetadataRejects count the
	// ut_metadata requests, data and rejects read from the engine.
	MetadataRequests, MetadataData, MetadataRejects atomic.Int64
	// MetadataServed counts ut_metadata data messages sent.
	MetadataServed atomic.Int64
	// MessagesSent counts scripted messages written.
	MessagesSent atomic.Int64
	// Hangups counts connections the engine closed after a handshake.
	Hangups atomic.Int64

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// StartHostilePeer listens on 127.0.0.1 and serves opts to every
// connection until the test ends.
func StartHostilePeer(t testing.TB, opts HostilePeerOptions) *HostilePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("hostile peer: %v", err)
	}
	if opts.ExtHandshake == nil {
		opts.ExtHandshake = ExtHandshake(1, "")
	}
	p := &HostilePeer{Addr: ln.Addr().String(), opts: opts, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Close stops listening and closes every connection, waiting for them.
func (p *HostilePeer) Close() {
	p.ln.Close()
	p.mu.Lock()
	p.closing.Store(true)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *HostilePeer) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			c.Close()
		}()
	}
}

// track registers c for Close, unless the peer is closing.
func (p *HostilePeer) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// Dial connects to a BitTorrent client at addr (the engine's listen
// address) and runs the script over that connection, as the side that
// opens it: the handshake names opts.InfoHash, which must be set. It
// returns when either side closes the connection or ctx ends; the counters
// tell what happened. Each call is one connection, so a test can send one
// malformed message per connection when the engine hangs up on the first.
func (p *HostilePeer) Dial(ctx context.Context, addr string) error {
	ih, err := hex.DecodeString(p.opts.InfoHash)
	if err != nil || len(ih) != 20 {
		return fmt.Errorf("hostile peer: info-hash %q: want 40 hex digits", p.opts.InfoHash)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("hostile peer: %w", err)
	}
	if !p.track(c) {
		c.Close()
		return errors.New("hostile peer: closed")
	}
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := c.Write(handshake(ih)); err != nil {
		return fmt.Errorf("hostile peer: %w", err)
	}
	r := bufio.NewReader(c)
	var hs [68]byte
	if _, err := io.ReadFull(r, hs[:]); err != nil {
		return fmt.Errorf("hostile peer: no handshake from %s: %w", addr, err)
	}
	if string(hs[:20]) != btProtocol {
		return fmt.Errorf("hostile peer: %s answered %q, not a BitTorrent handshake", addr, hs[:20])
	}
	p.session(ctx, c, r)
	return nil
}

// serve runs one accepted connection: the engine dialled in.
func (p *HostilePeer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	var hs [68]byte
	if _, err := io.ReadFull(r, hs[:20]); err != nil || string(hs[:20]) != btProtocol {
		return // an encrypted (MSE) handshake, or not BitTorrent
	}
	if _, err := io.ReadFull(r, hs[20:]); err != nil {
		return
	}
	ih := hs[28:48]
	if p.opts.InfoHash != "" && hex.EncodeToString(ih) != p.opts.InfoHash {
		return
	}
	if _, err := c.Write(handshake(ih)); err != nil {
		return
	}
	p.session(context.Background(), c, r)
}

// handshake is our BitTorrent handshake for info-hash ih, with the BEP 10
// extension bit set.
func handshake(ih []byte) []byte {
	b := make([]byte, 0, 68)
	b = append(b, btProtocol...)
	b = append(b, 0, 0, 0, 0, 0, 0x10, 0, 0)
	b = append(b, ih...)
	return append(b, "-HO0001-hostilepeer!"...)
}

// session runs a connection after the BitTorrent handshakes: sends the
// extended handshake, then reads messages, answering ut_metadata requests
// and sending the scripted messages, until either side closes.
func (p *HostilePeer) session(ctx context.Context, c net.Conn, r *bufio.Reader) {
	p.Handshakes.Add(1)
	// Any read or write error ends the session; unless we closed the
	// connection ourselves, the engine hung up (a write to a connection it
	// reset fails too).
	if err := p.converse(c, r); err != nil && !p.closing.Load() && ctx.Err() == nil {
		p.Hangups.Add(1)
	}
}

func (p *HostilePeer) converse(c net.Conn, r *bufio.Reader) error {
	if err := writeMsg(c, extMsg(extHandshakeID, p.opts.ExtHandshake)); err != nil {
		return err
	}
	ourMetadataID := advertisedID(p.opts.ExtHandshake, utMetadataName)
	var ids map[string]int
	for {
		msg, err := readMsg(r)
		if err != nil {
			return err
		}
		if len(msg) < 2 || msg[0] != msgExtended {
			continue
		}
		switch {
		case msg[1] == extHandshakeID && ids == nil:
			ids = map[string]int{}
			var hsMsg struct {
				M map[string]int `bencode:"m"`
			}
			if bencode.Unmarshal(msg[2:], &hsMsg) == nil {
				ids = hsMsg.M
			}
			p.ExtHandshakes.Add(1)
			if p.opts.Messages != nil {
				for _, m := range p.opts.Messages(ids) {
					if err := writeMsg(c, m); err != nil {
						return err
					}
					p.MessagesSent.Add(1)
				}
			}
		case ourMetadataID > 0 && int(msg[1]) == ourMetadataID:
			var req struct {
				Type  int `bencode:"msg_type"`
				Piece int `bencode:"piece"`
			}
			err := bencode.Unmarshal(msg[2:], &req)
			if _, ok := err.(bencode.ErrUnusedTrailingBytes); err != nil && !ok {
				continue
			}
			switch req.Type {
			case 1:
				p.MetadataData.Add(1)
				continue
			case 2:
				p.MetadataRejects.Add(1)
				continue
			}
			p.MetadataRequests.Add(1)
			md := p.opts.Metadata
			if md == nil || ids[utMetadataName] == 0 {
				continue
			}
			begin := req.Piece * (16 << 10)
			if req.Piece < 0 || begin >= len(md) {
				continue
			}
			end := min(begin+16<<10, len(md))
			m := UTMetadataMsg(ids[utMetadataName], 1, req.Piece, len(md), md[begin:end])
			if err := writeMsg(c, m); err != nil {
				return err
			}
			p.MetadataServed.Add(1)
		}
	}
}

// advertisedID returns the number hs (an extended handshake payload) gives
// extension name in its "m" dictionary, 0 if none.
func advertisedID(hs []byte, name string) int {
	var d struct {
		M map[string]int64 `bencode:"m"`
	}
	if bencode.Unmarshal(hs, &d) != nil {
		return 0
	}
	return int(d.M[name])
}

func readMsg(r *bufio.Reader) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > maxHostileMsgLen {
		return nil, fmt.Errorf("message of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeMsg(w io.Writer, msg []byte) error {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

func extMsg(id int, payload []byte) []byte {
	return append([]byte{msgExtended, byte(id)}, payload...)
}

// ExtHandshake returns an extended handshake payload advertising
// ut_metadata as number utMetadata, written verbatim (0 leaves it out; -1
// or 300 are out of range) and, when
// metadataSize is not "", the key metadata_size with that text as its
// bencoded integer, written verbatim ("-1", "4294967296",
// "99999999999999999999999").
func ExtHandshake(utMetadata int, metadataSize string) []byte {
	var b bytes.Buffer
	b.WriteString("d1:md")
	if utMetadata != 0 {
		fmt.Fprintf(&b, "11:ut_metadatai%de", utMetadata)
	}
	b.WriteString("e")
	if metadataSize != "" {
		fmt.Fprintf(&b, "13:metadata_sizei%se", metadataSize)
	}
	b.WriteString("1:v7:hostilee")
	return b.Bytes()
}

// UTMetadataMsg returns a raw BEP 9 message for extension number extID:
// msgType 0 request, 1 data (followed by data), 2 reject. piece and
// totalSize are written as given, so they may be out of range.
func UTMetadataMsg(extID, msgType, piece, totalSize int, data []byte) []byte {
	d := fmt.Sprintf("d8:msg_typei%de5:piecei%de", msgType, piece)
	if msgType == 1 {
		d += fmt.Sprintf("10:total_sizei%de", totalSize)
	}
	d += "e"
	return append(extMsg(extID, []byte(d)), data...)
}

// TrackerReply is what a HostileTracker answers every request with.
type TrackerReply struct {
	// Status defaults to 200.
	Status int
	// Header is added to the response (e.g. Content-Encoding: gzip).
	Header http.Header
	// Body is written as is.
	Body []byte
}

// HostileTracker is an HTTP tracker on 127.0.0.1 answering every request
// with a fixed reply.
type HostileTracker struct {
	// URL is the announce URL.
	URL       string
	reply     TrackerReply
	announces atomic.Int64
	written   atomic.Int64
}

// StartHostileTracker serves reply until the test ends.
func StartHostileTracker(t testing.TB, reply TrackerReply) *HostileTracker {
	t.Helper()
	tr := &HostileTracker{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.announces.Add(1)
		for k, vs := range tr.reply.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(tr.reply.Body)))
		status := tr.reply.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		n, _ := w.Write(tr.reply.Body)
		tr.written.Add(int64(n))
	}))
	t.Cleanup(srv.Close)
	tr.URL = srv.URL + "/announce"
	return tr
}

// Announces returns how many requests the tracker received.
func (tr *HostileTracker) Announces() int64 { return tr.announces.Load() }

// BytesWritten returns how many body bytes reached the engine's socket.
func (tr *HostileTracker) BytesWritten() int64 { return tr.written.Load() }

// GzipBomb returns a gzip stream of about 1 KiB per MiB that expands to
// n MiB of zeros: one compressed MiB repeated as concatenated gzip members,
// which a gzip reader (Go's included) decodes as one stream.
func GzipBomb(n int) []byte {
	var member bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	return bytes.Repeat(member.Bytes(), n)
}

// DeepBencode returns n nested lists, "llll…eeee", 2n bytes.
func DeepBencode(n int) []byte {
	return append(bytes.Repeat([]byte("l"), n), bytes.Repeat([]byte("e"), n)...)
}
