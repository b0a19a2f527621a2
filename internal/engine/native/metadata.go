package native

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/tracker"
)

const (
	// utMetadataID is the number we give ut_metadata (BEP 9) in our
	// extension handshakes.
	utMetadataID = 3
	// metadataPiece is BEP 9's piece of the info dictionary.
	metadataPiece = 16 << 10
	// maxMetadata bounds an info dictionary we fetch (16 MiB, as the
	// engine does).
	maxMetadata = 16 << 20
	// metadataDials is how many peers are asked at once.
	metadataDials = 8
)

// ErrNoMetadata is returned when no peer gave the info dictionary.
var ErrNoMetadata = errors.New("native: no peer gave the metadata")

// FetchMetadata gets the info dictionary of a magnet's torrent (BEP 9)
// from peers: the addresses given, those its trackers return and, with
// the DHT on, those the DHT knows (we do not announce ourselves: we have
// nothing to serve yet), up to eight at a time. The bytes returned hash
// to infoHash; a peer that sends anything else is dropped and the next
// one asked. It ends with ctx or the client's Close, or ErrNoMetadata
// once every peer known has failed.
func (c *Client) FetchMetadata(ctx context.Context, infoHash [20]byte, peers []netip.AddrPort, trackers []string) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)() // closing the client ends it
	addrs := make(chan netip.AddrPort, 256)
	var announcing sync.WaitGroup
	// At most announcesPerTorrent announces at once, by as many
	// goroutines, not one per tracker: a magnet may carry 200.
	announcing.Go(func() {
		log := c.log.With("infohash", fmt.Sprintf("%x", infoHash))
		forEachBounded(ctx, trackers, announcesPerTorrent, func(u string, wait bool) (busy bool) {
			res, retry, err := c.announceRequest(ctx, u, wait, tracker.AnnounceRequest{
				InfoHash: infoHash, PeerId: c.policy().peerID, Left: -1, NumWant: 50, Port: c.Addr().Port(),
			}, c.cfg.TrackerTimeout)
			if errors.Is(err, errTrackerBusy) {
				return true
			}
			if ctx.Err() != nil {
				return false // cancelled: nothing learned of the tracker
			}
			c.announced(infoHash, u, res, retry, err)
			if err != nil {
				logAnnounceFailure(log, u, err)
				return false
			}
			for _, p := range res.Peers {
				if ap, ok := p.ToNetipAddrPort(); ok {
					select {
					case addrs <- ap:
					case <-ctx.Done():
						return false
					}
				}
			}
			return false
		})
	})
	if c.dht != nil {
		announcing.Go(func() {
			dctx, dcancel := context.WithTimeout(ctx, dhtLookupTimeout)
			defer dcancel()
			err := c.dhtLookup(dctx, infoHash, 0, func(found []netip.AddrPort) {
				for _, a := range found {
					select {
					case addrs <- a:
					case <-dctx.Done():
						return
					}
				}
			})
			if err != nil && ctx.Err() == nil {
				c.log.Debug("DHT lookup for metadata ended", "infohash", fmt.Sprintf("%x", infoHash), "err", err)
			}
		})
	}
	go func() {
		for _, a := range peers {
			select {
			case addrs <- a:
			case <-ctx.Done():
				return
			}
		}
		announcing.Wait()
		close(addrs)
	}()

	c.mu.Lock()
	in := c.fetching[infoHash] // peers that connect to us, with WantMetadata
	c.mu.Unlock()
	// Each peer asked runs in its own goroutine, at most metadataDials
	// at once; each sends one result (nil: it failed).
	results := make(chan []byte, metadataDials)
	running := 0
	seen := map[netip.AddrPort]bool{}
	var dialQueue []netip.AddrPort
	var connQueue []*peerConn
	defer func() {
		for _, pc := range connQueue {
			pc.conn.Close()
		}
	}()
	for {
		for running < metadataDials && len(connQueue)+len(dialQueue) > 0 {
			var ask func() ([]byte, error)
			if len(connQueue) > 0 {
				pc := connQueue[0]
				connQueue = connQueue[1:]
				ask = func() ([]byte, error) { return c.metadataOver(ctx, pc, infoHash) }
			} else {
				a := dialQueue[0]
				dialQueue = dialQueue[1:]
				ask = func() ([]byte, error) { return c.metadataFrom(ctx, a, infoHash) }
			}
			running++
			tracked := c.goTracked(func() { // the client's Close waits for its connections
				b, err := ask()
				if err != nil {
					c.log.Debug("metadata from peer failed", "err", err)
				}
				results <- b
			})
			if !tracked {
				return nil, errClosed
			}
		}
		if addrs == nil && running == 0 && len(dialQueue) == 0 {
			select {
			case pc := <-in: // one came meanwhile: ask it first
				connQueue = append(connQueue, pc)
				continue
			default:
			}
			return nil, ErrNoMetadata
		}
		select {
		case a, ok := <-addrs:
			if !ok {
				addrs = nil
				continue
			}
			if !seen[a] && a != c.Addr() {
				seen[a] = true
				dialQueue = append(dialQueue, a)
			}
		case pc := <-in:
			connQueue = append(connQueue, pc)
		case b := <-results:
			running--
			if b != nil {
				return b, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// WantMetadata makes the client take peers that connect for infoHash,
// while it has no torrent of that hash, for FetchMetadata to ask (up to
// metadataDials waiting; more are refused). arrived, if not nil, is
// called (it must not block) when one is waiting: a caller between two
// FetchMetadata calls starts the next. Call release when the metadata is
// had or no longer wanted.
func (c *Client) WantMetadata(infoHash [20]byte, arrived func()) (release func()) {
	in := make(chan *peerConn, metadataDials)
	c.mu.Lock()
	c.fetching[infoHash] = in
	if arrived != nil {
		c.arrived[infoHash] = arrived
	}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.fetching[infoHash] == in {
			delete(c.fetching, infoHash)
			delete(c.arrived, infoHash)
		}
		c.mu.Unlock()
		for {
			select {
			case pc := <-in:
				pc.conn.Close()
			default:
				return
			}
		}
	}
}

// takeForMetadata hands an incoming connection to the metadata fetch of
// its hash, if one wants it; it reports whether it did.
func (c *Client) takeForMetadata(pc *peerConn) bool {
	c.mu.Lock()
	in, arrived := c.fetching[pc.res.Hash], c.arrived[pc.res.Hash]
	c.mu.Unlock()
	if in == nil {
		return false
	}
	select {
	case in <- pc:
		if arrived != nil {
			arrived()
		}
		return true
	default:
		return false
	}
}

// metadataFrom dials one peer and asks it for the info dictionary.
func (c *Client) metadataFrom(ctx context.Context, addr netip.AddrPort, infoHash [20]byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	pc, err := c.connect(ctx, addr, infoHash)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return c.metadataOver(ctx, pc, infoHash)
}

// metadataTimeout bounds asking one peer for the metadata.
const metadataTimeout = 30 * time.Second

// metadataOver asks a peer, past the handshake, for the info
// dictionary. Its own requests for the metadata are refused: we have none.
func (c *Client) metadataOver(ctx context.Context, pc *peerConn, infoHash [20]byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	conn, res := pc.conn, pc.res
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if !res.SupportsExtended() {
		return nil, errors.New("peer does not speak the extension protocol")
	}
	var out bytes.Buffer
	if res.SupportsFast() {
		writeMessage(&out, pp.HaveNone, nil)
	}
	hs, _ := bencode.Marshal(pp.ExtendedHandshakeMessage{M: map[pp.ExtensionName]pp.ExtensionNumber{pp.ExtensionNameMetadata: utMetadataID}, V: c.ourName()})
	writeMessage(&out, pp.Extended, append([]byte{0}, hs...))
	if _, err := pc.w.Write(out.Bytes()); err != nil {
		return nil, err
	}
	r := bufio.NewReader(pc.r)
	var info []byte
	var got []bool
	left := 0
	var theirs pp.ExtensionNumber // the peer's number for ut_metadata
	for {
		typ, payload, err := readMessage(r, maxMetadata/8)
		if err != nil {
			return nil, err
		}
		if typ != pp.Extended || len(payload) == 0 {
			continue
		}
		switch id := payload[0]; {
		case id == 0 && info == nil:
			var phs pp.ExtendedHandshakeMessage
			if err := bencode.Unmarshal(payload[1:], &phs); err != nil {
				return nil, fmt.Errorf("extension handshake: %w", err)
			}
			theirs = phs.M[pp.ExtensionNameMetadata]
			if theirs == 0 || phs.MetadataSize <= 0 || phs.MetadataSize > maxMetadata {
				return nil, fmt.Errorf("no usable ut_metadata (id %d, size %d)", theirs, phs.MetadataSize)
			}
			info = make([]byte, phs.MetadataSize)
			n := (phs.MetadataSize + metadataPiece - 1) / metadataPiece
			got, left = make([]bool, n), n
			out.Reset()
			for i := range n {
				req, _ := bencode.Marshal(pp.ExtendedMetadataRequestMsg{Piece: i, Type: pp.RequestMetadataExtensionMsgType})
				writeMessage(&out, pp.Extended, append([]byte{byte(theirs)}, req...))
			}
			if _, err := pc.w.Write(out.Bytes()); err != nil {
				return nil, err
			}
		case id == utMetadataID:
			dec := bencode.NewDecoder(bytes.NewReader(payload[1:]))
			var m pp.ExtendedMetadataRequestMsg
			if err := dec.Decode(&m); err != nil {
				return nil, fmt.Errorf("metadata message: %w", err)
			}
			if m.Type == pp.RequestMetadataExtensionMsgType {
				// It asks us: we have nothing yet.
				if theirs == 0 {
					return nil, errors.New("metadata request before the extension handshake")
				}
				rej, _ := bencode.Marshal(pp.ExtendedMetadataRequestMsg{Piece: m.Piece, Type: pp.RejectMetadataExtensionMsgType})
				out.Reset()
				writeMessage(&out, pp.Extended, append([]byte{byte(theirs)}, rej...))
				if _, err := pc.w.Write(out.Bytes()); err != nil {
					return nil, err
				}
				continue
			}
			if info == nil {
				continue // an answer to nothing we asked
			}
			switch m.Type {
			case pp.RejectMetadataExtensionMsgType:
				return nil, errors.New("peer refused the metadata")
			case pp.DataMetadataExtensionMsgType:
			default:
				continue
			}
			data := payload[1+int(dec.Offset):]
			if m.Piece < 0 || m.Piece >= len(got) || m.TotalSize != len(info) {
				return nil, fmt.Errorf("metadata piece %d of %d bytes out of range", m.Piece, m.TotalSize)
			}
			if want := min(metadataPiece, len(info)-m.Piece*metadataPiece); len(data) != want {
				return nil, fmt.Errorf("metadata piece %d: %d bytes, want %d", m.Piece, len(data), want)
			}
			if !got[m.Piece] {
				copy(info[m.Piece*metadataPiece:], data)
				got[m.Piece] = true
				left--
			}
			if left == 0 {
				if sha1.Sum(info) != infoHash {
					return nil, errors.New("metadata does not hash to the info-hash")
				}
				return info, nil
			}
		}
	}
}

// writeMessage appends one message to w.
func writeMessage(w *bytes.Buffer, t pp.MessageType, payload []byte) {
	var h [5]byte
	binary.BigEndian.PutUint32(h[:], uint32(1+len(payload)))
	h[4] = byte(t)
	w.Write(h[:])
	w.Write(payload)
}

// readMessage reads one message of at most limit bytes; keep-alives come
// back as an empty payload of type 0xff.
func readMessage(r *bufio.Reader, limit int) (pp.MessageType, []byte, error) {
	var lb [4]byte
	if _, err := io.ReadFull(r, lb[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(lb[:]))
	if n == 0 {
		return 0xff, nil, nil
	}
	if n > limit {
		return 0, nil, fmt.Errorf("%w: message of %d bytes", errProtocol, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, nil, err
	}
	return pp.MessageType(b[0]), b[1:], nil
}
