package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
)

// Defences at the engine's boundary against hostile trackers and peers,
// for what v1.62.0 still lets through. Each was measured by the tests in
// hostile_test.go (figures there and in docs).
//
// Tracker responses. The engine caps a tracker's HTTP body at 4 MiB, but
// what it does with 4 MiB is the problem:
//   - An error quotes the whole body with %q ("error decoding %q",
//     "response from tracker: 404 Not Found: %q", "tracker gave failure
//     reason: %q"): 4 MiB of NULs became a 16 MiB error string, which the
//     engine keeps in its announce state and hands to every log handler
//     (alertFor clips what reaches alerts). One announce: 146 MiB heap
//     peak, 266 MiB allocated.
//   - A valid 4 MiB compact peer list is 699,040 peers, each added one by
//     one under the client lock: 2.5 s (17 s under -race) with every
//     torrent of the engine stalled, 281 MiB heap peak, 848 MiB
//     allocated, per announce.
//
// Real trackers answer in a few KiB (50 to 200 peers, 6 bytes each
// compact, about 70 in a dictionary), so capping what one tracker
// connection may read at MaxTrackerResponse bounds both: 0.5 MiB
// allocated for any of the above. The engine's tracker client opens one
// connection per announce (keep-alives off), so a per-connection cap is a
// per-response cap. Left as is: a gzip bomb, which the engine's 4 MiB cap
// on the decompressed body already bounds (16 MiB allocated for 1 GiB).

// Peer-connection log records. The engine logs one peer's protocol errors
// (a malformed extended handshake, a bad metadata_size, an oversized
// request) at Warn, which the alert handler turns into Alerts, and the
// daemon into durable engine.alert events sent to every client. Their
// text names the connection ("*torrent.PeerConn 0x…") or quotes the
// peer's own bytes and numbers, so the alerts' de-duplication never
// matches: one peer reconnecting with varied garbage raised 200 alerts in
// 0.12 s (and as many warnings, up to 64 KiB each, in the daemon's log).
// quietPeerConns demotes those records to Debug: the engine already
// dropped the connection, and there is nothing for the user to do.

// MaxTrackerResponse is the most bytes read from one HTTP tracker
// connection, headers included.
const MaxTrackerResponse = 128 << 10

// ErrTrackerResponseTooLarge ends a tracker response past
// MaxTrackerResponse.
var ErrTrackerResponseTooLarge = errors.New("tracker response too large")

// applyGuards installs the defences above in cc. Call it last before
// torrent.NewClient, once TrackerDialContext and Slogger are set: it wraps
// them. (The tracker dialer is also the WebTorrent tracker's, which is
// off: a long-lived WebSocket would hit the cap.)
func applyGuards(cc *torrent.ClientConfig) {
	cc.TrackerDialContext = capTrackerReads(cc.TrackerDialContext, MaxTrackerResponse)
	if cc.Slogger != nil {
		cc.Slogger = slog.New(quietPeerConns(cc.Slogger.Handler()))
	}
}

// dialFunc is the engine's dialer signature (ClientConfig.TrackerDialContext).
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// capTrackerReads wraps dial (nil means a plain net.Dialer) so that every
// connection it makes fails with ErrTrackerResponseTooLarge after reading
// limit bytes.
func capTrackerReads(dial dialFunc, limit int64) dialFunc {
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &cappedConn{Conn: c, limit: limit}
		cc.left.Store(limit)
		return cc, nil
	}
}

// cappedConn is a connection that may read limit bytes in all. Reads come
// from the HTTP transport's one reader goroutine; left is atomic anyway.
type cappedConn struct {
	net.Conn
	limit int64
	left  atomic.Int64
}

func (c *cappedConn) Read(b []byte) (int, error) {
	left := c.left.Load()
	if left <= 0 {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTrackerResponseTooLarge, c.limit)
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	n, err := c.Conn.Read(b)
	c.left.Add(-int64(n))
	return n, err
}

// quietPeerConns wraps next, demoting to Debug the records about one peer
// connection: those naming it (peerConnMark) and a connection's final
// error (runErrMark), except failures to read our own storage
// (storageMark), which are the user's business.
func quietPeerConns(next slog.Handler) slog.Handler { return quietHandler{next} }

// Marks in the engine's (v1.62.0) messages; TestHostilePeerAlertFlood
// fails if they change.
const (
	peerConnMark = "*torrent.PeerConn 0x"
	runErrMark   = "error running handshook conn"
	storageMark  = "error reading chunk"
	// The engine's own consistency check of its announce scheduler,
	// logged at Warn after add/remove churn (seen in the crash loop): not
	// the user's business, and it would reach every client as an alert.
	announceSyncMark = "announce dispatcher torrent input is not synced"
	// One record per failed chunk write ("writing received chunk …: no
	// space left on device"): 207 alerts in 0.5 s on a full disk. The
	// write-error callback reports the error once, with its task.
	chunkWriteMark = "writing received chunk"
)

type quietHandler struct{ next slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelDebug && (aboutPeerConn(r.Message) || r.Message == announceSyncMark || strings.Contains(r.Message, chunkWriteMark)) {
		if !h.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.next.Handle(ctx, r)
}

func aboutPeerConn(msg string) bool {
	return (strings.Contains(msg, peerConnMark) || strings.Contains(msg, runErrMark)) &&
		!strings.Contains(msg, storageMark)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{h.next.WithAttrs(as)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.next.WithGroup(name)}
}
