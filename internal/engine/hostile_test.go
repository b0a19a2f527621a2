package engine

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	trHttp "github.com/anacrolix/torrent/tracker/http"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The swarm side of hardening: hostile peers and trackers on loopback feed
// the engine crafted input. Every case asserts that the engine stays up,
// that its heap stays bounded while it reads the input, and that the same
// torrent then downloads correctly from a real seeder in the same engine.

// heapBudget bounds the live-heap growth and the bytes allocated while the
// engine digests one hostile input. A regression such as metadata_size
// truncated to uint32 (4 GiB) or an unbounded tracker body blows far past it.
const heapBudget = 256 << 20

// maxUserText bounds any alert or tracker error text, which a peer or
// tracker can fill and which reaches the user (and the daemon's event log).
const maxUserText = 4 << 10

// hostilePhase bounds how long a case feeds hostile input before the real
// seeder is brought in.
const hostilePhase = 5 * time.Second

// TestHostilePeerMetadataSize: a peer advertises a hostile metadata_size
// in its extended handshake (BEP 9). v1.59.1 truncated it to 32 bits, so
// 2^32 passed its 16 MiB check and allocated 4 GiB; the engine must now
// refuse every size outside 0..16 MiB, allocate nothing for it, and still
// get the right metadata from a real seeder afterwards.
func TestHostilePeerMetadataSize(t *testing.T) {
	h := newHarness(t)
	const (
		hangup         = iota // the engine must drop the connection
		ignore                // the engine keeps it, requests no metadata
		accepted              // the engine keeps it and requests the metadata
		ignoreOrHangup        // the engine requests no metadata
	)
	cases := []struct {
		name string
		// size is metadata_size's bencoded integer text.
		size string
		want int
	}{
		// A peer with no metadata to give: kept (anacrolix) or hung up
		// on (the native core, whose magnet has no use for it); never
		// asked.
		{"zero", "0", ignoreOrHangup},
		{"minus one", "-1", hangup},
		{"2^31", "2147483648", hangup},
		{"2^32", "4294967296", hangup},
		{"2^32+16384", "4295000064", hangup},
		{"2^40", "1099511627776", hangup},
		{"int64 max", "9223372036854775807", hangup},
		{"beyond int64", "99999999999999999999999", hangup},
		{"16 MiB, the engine's limit", "16777216", accepted},
		{"16 MiB + 1", "16777217", hangup},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := h.torrent(t, uint64(100+i))
			p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{
				InfoHash:     tr.InfoHash,
				ExtHandshake: enginetest.ExtHandshake(1, c.size),
			})
			tt, m := h.attack(t, tr, []string{p.Addr}, nil, func(Torrent) bool {
				switch c.want {
				case hangup:
					return p.Hangups.Load() > 0
				case accepted:
					return p.MetadataRequests.Load() >= 1024 // all 16 KiB pieces of 16 MiB
				}
				return p.ExtHandshakes.Load() > 0 && (c.want != ignoreOrHangup || testCore() != CoreNative || p.Hangups.Load() > 0)
			})
			t.Logf("peer: handshakes %d, engine hung up %d, metadata requests %d", p.Handshakes.Load(), p.Hangups.Load(), p.MetadataRequests.Load())
			switch {
			case c.want == hangup && p.Hangups.Load() == 0:
				t.Errorf("metadata_size %s: the engine kept the connection", c.size)
			case (c.want == ignore || c.want == accepted) && p.Hangups.Load() > 0:
				t.Errorf("metadata_size %s: the engine hung up", c.size)
			case c.want == accepted && p.MetadataRequests.Load() < 1024:
				t.Errorf("metadata_size %s: the engine requested %d pieces", c.size, p.MetadataRequests.Load())
			case (c.want == ignore || c.want == ignoreOrHangup) && p.MetadataRequests.Load() > 0:
				t.Errorf("metadata_size %s: the engine requested %d pieces", c.size, p.MetadataRequests.Load())
			}
			m.check(t)
			h.deliver(t, tt, tr)
		})
	}
}

// TestHostilePeerExtendedHandshake: malformed extended handshakes (wrong
// types, out-of-range extension numbers, garbage, deep nesting up to the
// engine's 64 KiB message cap) are refused without harm.
func TestHostilePeerExtendedHandshake(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name   string
		hs     []byte
		hangup bool
	}{
		{"metadata_size a string", []byte("d1:md11:ut_metadatai1ee13:metadata_size3:abce"), true},
		{"metadata_size a list", []byte("d1:md11:ut_metadatai1ee13:metadata_sizeli1eee"), false},
		{"ut_metadata id 300", enginetest.ExtHandshake(300, "1000"), true},
		{"ut_metadata id -1", enginetest.ExtHandshake(-1, "1000"), true},
		{"not bencode", []byte("\xff\xfe garbage"), true},
		// The engine's peer messages are capped at 64 KiB.
		{"nested 32 Ki deep", enginetest.DeepBencode(32 << 10), true},
		{"m nested 30 Ki deep", append(append([]byte("d1:m"), enginetest.DeepBencode(30<<10)...), 'e'), true},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := h.torrent(t, uint64(200+i))
			p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{InfoHash: tr.InfoHash, ExtHandshake: c.hs})
			tt, m := h.attack(t, tr, []string{p.Addr}, nil, func(Torrent) bool {
				if c.hangup {
					return p.Hangups.Load() > 0
				}
				return p.ExtHandshakes.Load() > 0
			})
			t.Logf("peer: handshakes %d, engine hung up %d", p.Handshakes.Load(), p.Hangups.Load())
			if p.Handshakes.Load() == 0 {
				t.Errorf("the engine never completed a handshake with the hostile peer")
			}
			if c.hangup && p.Hangups.Load() == 0 {
				t.Errorf("the engine kept the connection")
			}
			m.check(t)
			h.deliver(t, tt, tr)
		})
	}
}

// TestHostilePeerForgedMetadata: a peer serves, over ut_metadata, an info
// dictionary that does not hash to the magnet's info-hash. It must never
// become the torrent's info; a real seeder then delivers the right one.
func TestHostilePeerForgedMetadata(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name string
		// forge returns the bytes served for tr's info dictionary.
		forge func(tr *enginetest.Torrent) []byte
		// stay keeps the forger connected while the seeder delivers.
		stay bool
	}{
		{"renamed info", func(tr *enginetest.Torrent) []byte {
			return infoBytes(t, enginetest.Parse(t, tr.MetaInfo).WithName("forged"))
		}, false},
		{"renamed info, forger stays", func(tr *enginetest.Torrent) []byte {
			return infoBytes(t, enginetest.Parse(t, tr.MetaInfo).WithName("forged"))
		}, true},
		{"other content, 40 KiB info", func(tr *enginetest.Torrent) []byte { return bigInfo(t, 40<<10) }, true},
		{"not bencode", func(*enginetest.Torrent) []byte { return bytes.Repeat([]byte{0xff}, 20000) }, false},
		{"nested 1 Mi deep", func(*enginetest.Torrent) []byte { return enginetest.DeepBencode(1 << 19) }, false},
		{"16 MiB of nesting", func(*enginetest.Torrent) []byte { return enginetest.DeepBencode(8 << 20) }, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := h.torrent(t, uint64(300+i))
			forged := c.forge(tr)
			if hex.EncodeToString(sha1Sum(forged)) == tr.InfoHash {
				t.Fatal("forged info hashes to the real info-hash")
			}
			p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{
				InfoHash:     tr.InfoHash,
				ExtHandshake: enginetest.ExtHandshake(1, fmt.Sprint(len(forged))),
				Metadata:     forged,
			})
			pieces := int64((len(forged) + 16<<10 - 1) / (16 << 10))
			// Once it has every piece, the engine checks the hash and
			// hangs up on the forger.
			tt, m := h.attack(t, tr, []string{p.Addr}, nil, func(Torrent) bool {
				return p.MetadataServed.Load() >= pieces && p.Hangups.Load() > 0
			})
			m.check(t)
			t.Logf("forger served %d/%d pieces (%d bytes) over %d connections; engine hung up %d", p.MetadataServed.Load(), pieces, len(forged), p.Handshakes.Load(), p.Hangups.Load())
			if p.MetadataServed.Load() < pieces {
				t.Errorf("the engine asked for only %d of %d forged pieces", p.MetadataServed.Load(), pieces)
			}
			if tt.HasInfo() {
				t.Fatalf("forged metadata accepted: torrent now named %q", tt.Stats().Name)
			}
			if !c.stay {
				p.Close()
			}
			h.deliver(t, tt, tr)
		})
	}
}

// TestHostilePeerMetadataPieces: a peer dials in and sends ut_metadata
// requests, data and rejects with out-of-range piece indexes (and sizes),
// one message per connection, each followed by a well-formed request for
// piece 0 as a probe; both to a torrent still waiting for its metadata
// (magnet) and to one that has it (and so serves it). The engine may hang
// up or ignore the message, but must not crash, must not serve data for an
// out-of-range piece, and must then still download the torrent.
func TestHostilePeerMetadataPieces(t *testing.T) {
	h := newHarness(t)
	type msg struct {
		name          string
		typ, piece, n int // msg_type, piece, total_size
	}
	var msgs []msg
	for _, i := range []int{-1, -(1 << 31), 1 << 31, 1<<62 + 7, 1<<63 - 1, 1, 1 << 18} {
		msgs = append(msgs,
			msg{fmt.Sprintf("request %d", i), 0, i, 0},
			msg{fmt.Sprintf("data %d", i), 1, i, 1 << 14},
			msg{fmt.Sprintf("reject %d", i), 2, i, 0})
	}
	for _, n := range []int{-1, 0, 1 << 62, -(1 << 62), 1<<63 - 1} {
		msgs = append(msgs, msg{fmt.Sprintf("data 0, total_size %d", n), 1, 0, n})
	}
	msgs = append(msgs, msg{"msg_type -7", -7, 0, 0}, msg{"msg_type 3", 3, 0, 0})
	for i, withInfo := range []bool{false, true} {
		name := "magnet"
		if withInfo {
			name = "with info"
		}
		t.Run(name, func(t *testing.T) {
			tr := h.torrent(t, uint64(400+i))
			var meta []byte
			if withInfo {
				meta = tr.MetaInfo
			}
			tt, m := h.attack(t, tr, nil, meta, func(Torrent) bool { return true })
			m = watchMem()
			var outcomes []string
			for _, c := range msgs {
				p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{
					InfoHash: tr.InfoHash,
					Messages: func(ids map[string]int) [][]byte {
						id := ids["ut_metadata"]
						if id == 0 {
							return nil
						}
						var data []byte
						if c.typ == 1 {
							data = make([]byte, 100)
						}
						return [][]byte{
							enginetest.UTMetadataMsg(id, c.typ, c.piece, c.n, data),
							enginetest.UTMetadataMsg(id, 0, 0, 0, nil), // the probe
						}
					},
				})
				ctx, cancel := context.WithTimeout(context.Background(), hostilePhase)
				go func() {
					for ctx.Err() == nil && p.Hangups.Load() == 0 && p.MetadataData.Load()+p.MetadataRejects.Load() == 0 {
						time.Sleep(2 * time.Millisecond)
					}
					// Give a second answer (to the bad request itself) a moment.
					time.Sleep(20 * time.Millisecond)
					cancel()
				}()
				if err := p.Dial(ctx, h.e.PeerAddrs()[0].String()); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				<-ctx.Done()
				if p.MessagesSent.Load() == 0 {
					t.Fatalf("%s: not sent (handshakes %d)", c.name, p.Handshakes.Load())
				}
				outcome := fmt.Sprintf("answered data %d, reject %d", p.MetadataData.Load(), p.MetadataRejects.Load())
				if p.Hangups.Load() > 0 {
					outcome = "hung up"
				}
				outcomes = append(outcomes, c.name+": "+outcome)
				// Only the probe, and only when the engine has the info, may
				// be answered with data.
				if d := p.MetadataData.Load(); d > 1 || (d > 0 && !withInfo) {
					t.Errorf("%s: the engine sent %d metadata pieces", c.name, d)
				}
				if c.typ == 0 && c.piece != 0 && p.Hangups.Load() == 0 && p.MetadataRejects.Load() == 0 {
					t.Errorf("%s: neither rejected nor hung up on", c.name)
				}
				p.Close()
			}
			m.stop()
			t.Logf("engine's answers to %d hostile messages: %s", len(msgs), strings.Join(outcomes, "; "))
			t.Logf("%d connections: heap growth peak %s, allocated %s", len(msgs), mib(m.peakHeap), mib(m.allocated))
			m.check(t)
			if tt.HasInfo() != withInfo {
				t.Fatalf("HasInfo %v after the hostile messages", tt.HasInfo())
			}
			h.deliver(t, tt, tr)
		})
	}
	t.Run("in-range request is answered", func(t *testing.T) {
		// The control: a well-formed request is served, so the cases
		// above did reach the code that serves metadata.
		tr := h.torrent(t, 499)
		p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{
			InfoHash: tr.InfoHash,
			Messages: func(ids map[string]int) [][]byte {
				if ids["ut_metadata"] == 0 {
					return nil
				}
				return [][]byte{enginetest.UTMetadataMsg(ids["ut_metadata"], 0, 0, 0, nil)}
			},
		})
		tt, m := h.attack(t, tr, []string{p.Addr}, tr.MetaInfo, func(Torrent) bool { return p.MetadataData.Load() > 0 })
		m.check(t)
		if p.MetadataData.Load() == 0 {
			t.Errorf("the engine did not serve piece 0 of its metadata (rejects %d)", p.MetadataRejects.Load())
		}
		tt.Drop()
	})
}

// TestHostilePeerAlertFlood: one peer reconnects over and over, each time
// with a different malformed extended handshake. Every connection is
// refused; what is measured is how many alerts (user-visible, and durable
// in the daemon's event log) that costs: a few at most, with
// quietPeerConns (guard.go) wired.
func TestHostilePeerAlertFlood(t *testing.T) {
	h := newHarness(t)
	tr := h.torrent(t, 600)
	tt, m := h.attack(t, tr, nil, nil, func(Torrent) bool { return true })
	const conns = 200
	alertsBefore := h.log.alertCount()
	m = watchMem()
	start := time.Now()
	var hangups int64
	for i := range conns {
		// Half malformed, half with a metadata_size over the engine's
		// limit; each different, as a flooding peer would make them.
		hs := []byte(fmt.Sprintf("\xff not bencode %d", i))
		if i%2 == 1 {
			hs = enginetest.ExtHandshake(1, fmt.Sprint(16<<20+i))
		}
		p := enginetest.StartHostilePeer(t, enginetest.HostilePeerOptions{InfoHash: tr.InfoHash, ExtHandshake: hs})
		ctx, cancel := context.WithTimeout(context.Background(), hostilePhase)
		if err := p.Dial(ctx, h.e.PeerAddrs()[0].String()); err != nil {
			t.Fatal(err)
		}
		cancel()
		hangups += p.Hangups.Load()
		p.Close()
	}
	elapsed := time.Since(start)
	time.Sleep(100 * time.Millisecond) // let the last alerts arrive
	m.stop()
	alerts := h.log.alertCount() - alertsBefore
	t.Logf("%d malformed handshakes in %v (%.0f/s), %d hung up on: %d alerts; heap growth peak %s, allocated %s",
		conns, elapsed.Round(time.Millisecond), conns/elapsed.Seconds(), hangups, alerts, mib(m.peakHeap), mib(m.allocated))
	if hangups != conns {
		t.Errorf("the engine hung up on %d of %d malformed handshakes", hangups, conns)
	}
	// One peer's garbage is not the user's business: a few alerts at
	// most, not one per connection.
	if alerts > 10 {
		t.Errorf("%d alerts from one peer's %d connections", alerts, conns)
	}
	m.check(t)
	h.deliver(t, tt, tr)
}

// TestHostileTracker: a tracker answers the announce with a hostile body.
func TestHostileTracker(t *testing.T) {
	h := newHarness(t)
	gz := http.Header{"Content-Encoding": {"gzip"}}
	cases := []struct {
		name  string
		reply func() enginetest.TrackerReply
	}{
		{"3 MiB nested lists", body(enginetest.DeepBencode(3 << 19))},
		{"8 MiB nested lists", body(enginetest.DeepBencode(4 << 20))},
		{"nested lists in peers", body(slices.Concat([]byte("d8:intervali1800e5:peers"), enginetest.DeepBencode(1<<20), []byte("e")))},
		{"gzip bomb, 1 GiB", func() enginetest.TrackerReply {
			return enginetest.TrackerReply{Header: gz, Body: enginetest.GzipBomb(1 << 10)}
		}},
		{"gzip bomb, 1 GiB, status 500", func() enginetest.TrackerReply {
			return enginetest.TrackerReply{Status: 500, Header: gz, Body: enginetest.GzipBomb(1 << 10)}
		}},
		{"negative interval", body([]byte("d8:intervali-1e5:peers0:e"))},
		{"interval beyond int64", body([]byte("d8:intervali99999999999999999999999e5:peers0:e"))},
		{"interval 0, min interval -5", body([]byte("d8:intervali0e12:min intervali-5e5:peers0:e"))},
		{"compact peers, 7 bytes", body([]byte("d8:intervali1800e5:peers7:\x7f\x00\x00\x01\x1a\xe1\x00e"))},
		{"compact peers, 1 MiB of garbage", body(compactGarbage(1<<20 + 1))},
		{"compact peers, 100 KiB of garbage", body(compactGarbage(100<<10 + 1))},
		{"peers6, 19 bytes", body([]byte("d8:intervali1800e5:peers0:6:peers619:" + strings.Repeat("\x01", 19) + "e"))},
		{"non-compact peers of the wrong types", body([]byte("d8:intervali1800e5:peersli1e3:abcd2:ipi5e4:porti1eed2:ip9:127.0.0.14:port3:abced2:ip3:::14:porti-1eeee"))},
		{"4 MiB of compact peers on loopback", body(compactFlood(4<<20 - 64))},
		{"4 MiB failure reason", body(slices.Concat([]byte(fmt.Sprintf("d14:failure reason%d:", 4<<20-64)), bytes.Repeat([]byte{0}, 4<<20-64), []byte("e")))},
		{"4 MiB 404 page", func() enginetest.TrackerReply {
			return enginetest.TrackerReply{Status: 404, Body: bytes.Repeat([]byte{0x01}, 4<<20)}
		}},
		// Last: its 20,000 refusing peers keep the engine's dial queue
		// busy for a while after the torrent is dropped.
		{"120 KiB of compact peers on loopback", body(compactFlood(120 << 10))},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := h.torrent(t, uint64(500+i))
			trk := enginetest.StartHostileTracker(t, c.reply())
			tt, m := h.attack(t, tr, nil, nil, func(tt Torrent) bool {
				ts := tt.Trackers()
				return len(ts) > 0 && !ts[0].LastAnnounce.IsZero()
			}, trk.URL)
			m.check(t)
			ts := tt.Trackers()
			t.Logf("tracker: %d announces, %d body bytes written; status error %d bytes: %s", trk.Announces(), trk.BytesWritten(), len(ts[0].LastError), clip(ts[0].LastError))
			if trk.Announces() == 0 {
				t.Fatal("the engine never announced")
			}
			// A tracker's text reaches the user (tracker status, alerts,
			// checked in deliver): bounded, whatever the tracker sent.
			if n := len(ts[0].LastError); n > maxUserText {
				t.Errorf("tracker status error of %d bytes", n)
			}
			h.deliver(t, tt, tr)
			// Whatever interval it was given, the engine must not have
			// re-announced in a tight loop meanwhile.
			// (At most: a magnet's first, the torrent's "started" and
			// "completed", and "stopped" when it is dropped.)
			if n := trk.Announces(); n > 4 {
				t.Errorf("%d announces during the case", n)
			}
		})
	}
	t.Run("a normal torrent beside a flooded one", func(t *testing.T) {
		// The flooded torrent stays: its tracker's peers (all refusing)
		// share the engine's dial rate (10/s) and half-open budget with
		// the normal torrent, which must still finish.
		flooded := h.torrent(t, 590)
		trk := enginetest.StartHostileTracker(t, enginetest.TrackerReply{Body: compactFlood(120 << 10)})
		ft, m := h.attack(t, flooded, nil, nil, func(tt Torrent) bool {
			ts := tt.Trackers()
			return len(ts) > 0 && !ts[0].LastAnnounce.IsZero()
		}, trk.URL)
		m.check(t)
		defer ft.Drop()
		tr := h.torrent(t, 591)
		spec, err := ParseMagnet(tr.Magnet(nil))
		if err != nil {
			t.Fatal(err)
		}
		tt, err := h.e.Add(spec)
		if err != nil {
			t.Fatal(err)
		}
		h.deliver(t, tt, tr)
	})
}

// TestGuardTrackerResponses drives the engine's own HTTP tracker client,
// with and without capTrackerReads, against hostile trackers: guarded, a
// response costs a bounded error and little memory; a normal one still
// gets through.
func TestGuardTrackerResponses(t *testing.T) {
	gz := http.Header{"Content-Encoding": {"gzip"}}
	nuls := bytes.Repeat([]byte{0}, 4<<20-64)
	cases := []struct {
		name  string
		reply enginetest.TrackerReply
		// baseline also measures the engine's client alone (not for the
		// peer flood: 10 s under -race; TestHostileTracker measures it
		// through the engine when unguarded).
		baseline bool
	}{
		{"4 MiB failure reason", enginetest.TrackerReply{Body: slices.Concat([]byte(fmt.Sprintf("d14:failure reason%d:", len(nuls))), nuls, []byte("e"))}, true},
		{"4 MiB 404 page", enginetest.TrackerReply{Status: 404, Body: bytes.Repeat([]byte{1}, 4<<20)}, true},
		{"4 MiB of compact peers", enginetest.TrackerReply{Body: compactFlood(4<<20 - 64)}, false},
		{"3 MiB nested lists", enginetest.TrackerReply{Body: enginetest.DeepBencode(3 << 19)}, true},
		{"1 MiB compact garbage", enginetest.TrackerReply{Body: compactGarbage(1<<20 + 1)}, true},
		{"gzip bomb, 1 GiB", enginetest.TrackerReply{Header: gz, Body: enginetest.GzipBomb(1 << 10)}, true},
	}
	announce := func(t *testing.T, u string, dial dialFunc) (trHttp.AnnounceResponse, *memWatch, error) {
		t.Helper()
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		cl := trHttp.NewClient(pu, trHttp.NewClientOpts{DialContext: dial})
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m := watchMem()
		resp, err := cl.Announce(ctx, trHttp.AnnounceRequest{Left: -1, Port: 6881}, trHttp.AnnounceOpt{})
		m.stop()
		return resp, m, err
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			trk := enginetest.StartHostileTracker(t, c.reply)
			if c.baseline {
				resp, m, err := announce(t, trk.URL, nil)
				t.Logf("engine alone: %d peers, error %d bytes; heap growth peak %s, allocated %s", len(resp.Peers), len(errText(err)), mib(m.peakHeap), mib(m.allocated))
			}
			resp, m, err := announce(t, trk.URL, capTrackerReads(nil, MaxTrackerResponse))
			t.Logf("guarded:      %d peers, error %d bytes: %s; heap growth peak %s, allocated %s", len(resp.Peers), len(errText(err)), clip(errText(err)), mib(m.peakHeap), mib(m.allocated))
			if err == nil {
				t.Fatalf("guarded announce succeeded with %d peers", len(resp.Peers))
			}
			if n := len(err.Error()); n > maxUserText {
				t.Errorf("error of %d bytes", n)
			}
			// The engine's own 4 MiB cap on the (decompressed) body is the
			// bound left for a gzip bomb, whose compressed bytes stay
			// under ours: 16 MiB allocated (24 MiB under -race).
			if m.allocated > 64<<20 {
				t.Errorf("guarded announce allocated %s", mib(m.allocated))
			}
		})
	}
	t.Run("a normal tracker", func(t *testing.T) {
		peers := []string{"127.0.0.1:1001", "127.0.0.2:1002", "127.0.0.3:1003"}
		trk := enginetest.StartTracker(t, peers...)
		resp, _, err := announce(t, trk.URL, capTrackerReads(nil, MaxTrackerResponse))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range resp.Peers {
			got = append(got, fmt.Sprintf("%s:%d", p.IP, p.Port))
		}
		if !slices.Equal(got, peers) || resp.Interval != 60 {
			t.Errorf("peers %v, interval %d; want %v, 60", got, resp.Interval, peers)
		}
	})
}

// TestGuardLog feeds the alert handler, behind quietPeerConns, records
// shaped like the engine's (texts copied from its logs in the tests
// above).
func TestGuardLog(t *testing.T) {
	var alerts []Alert
	rec := &captureHandler{}
	log := slog.New(quietPeerConns(newAlertHandler(rec, func(a Alert) { alerts = append(alerts, a) }, &trackerBook{})))
	const ih = "2c0da3c5a71ed236fa34701b5b2c29ace15aa84b"
	for _, msg := range []string{
		ih + `: *torrent.PeerConn 0x2d3413b07808: error parsing extended handshake message "\xff garbage": bencode: syntax error (offset: 0): unknown value type '\u00ff'`,
		ih + ": error running handshook conn: main read loop: setting metadata size to 16777217: bad size",
		ih + ": *torrent.PeerConn 0x2d3413b07808: peer requested chunk too long (1048576)",
	} {
		log.Warn(msg)
		if len(alerts) != 0 {
			t.Fatalf("a peer's protocol error raised %q", alerts[0].Message)
		}
		// Still logged, at Debug.
		if rec.msg != msg || rec.level != slog.LevelDebug {
			t.Errorf("logged %q at %v", rec.msg, rec.level)
		}
	}
	for _, msg := range []string{
		ih + ": error completing metadata: error setting info bytes: info bytes don't match v1 infohash or truncated v2 infohash",
		ih + ": *torrent.PeerConn 0x2d3413b07808: error reading chunk for peer Request {{0 0 16384}}: read /dl/x: input/output error",
	} {
		log.Warn(msg)
		if len(alerts) != 1 || alerts[0].Message != msg || alerts[0].TaskID != ih {
			t.Errorf("%q: alerts %v", msg, alerts)
		}
		alerts = nil
	}
}

// captureHandler keeps the last record's level and message.
type captureHandler struct {
	level slog.Level
	msg   string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.level, h.msg = r.Level, r.Message
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func body(b []byte) func() enginetest.TrackerReply {
	return func() enginetest.TrackerReply { return enginetest.TrackerReply{Body: b} }
}

// compactGarbage returns a tracker response whose compact peers string is
// n random bytes (not a multiple of 6 when n isn't).
func compactGarbage(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	g := make([]byte, n)
	for i := range g {
		g[i] = byte(rng.Uint32())
	}
	return slices.Concat([]byte(fmt.Sprintf("d8:intervali1800e5:peers%d:", n)), g, []byte("e"))
}

// compactFlood returns a tracker response listing about n/6 distinct
// loopback peers (127.0.0.x, ports ≥ 1024) in compact form.
func compactFlood(n int) []byte {
	n -= n % 6
	g := make([]byte, 0, n)
	for a := 1; len(g) < n; a++ {
		for port := 1024; port < 65536 && len(g) < n; port++ {
			g = append(g, 127, 0, 0, byte(a), byte(port>>8), byte(port))
		}
	}
	return slices.Concat([]byte(fmt.Sprintf("d8:intervali1800e5:peers%d:", n)), g, []byte("e"))
}

// harness is one engine shared by a test's cases, a seeder for every case's
// torrent, and a record of what the engine logged and alerted.
type harness struct {
	e      Engine
	dir    string
	seeder *enginetest.Seeder
	log    *logRecorder
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	rec := &logRecorder{s: &logStore{}}
	h := &harness{dir: t.TempDir(), log: rec}
	e, err := New(Config{
		Core:        testCore(),
		DownloadDir: h.dir,
		StateDir:    t.TempDir(),
		PeerAddr:    "127.0.0.1:0",
		// The hostile trackers are on loopback.
		AllowPrivateTrackers: true,
		Logger:               slog.New(rec),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.e = e
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case a := <-e.Alerts():
				rec.alert(a)
			case <-quit:
				return
			}
		}
	}()
	h.seeder = enginetest.StartSeeder(t, enginetest.SeederOptions{})
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close engine: %v", err)
		}
		close(quit)
		<-done
	})
	return h
}

// torrent generates a small torrent, odd-sized over 5 pieces, and seeds it.
func (h *harness) torrent(t *testing.T, seed uint64) *enginetest.Torrent {
	t.Helper()
	tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("case%d.bin", seed), Size: 150_001, Seed: seed})
	h.seeder.Seed(t, tr)
	return tr
}

// attack adds tr to the engine as a magnet pointing at peers and trackers
// (or, with metaInfo, as that .torrent plus the peers), then waits until
// done reports true or hostilePhase passes, measuring the heap meanwhile.
func (h *harness) attack(t *testing.T, tr *enginetest.Torrent, peers []string, metaInfo []byte, done func(Torrent) bool, trackers ...string) (Torrent, *memWatch) {
	t.Helper()
	mark := h.log.mark()
	t.Cleanup(func() { h.log.report(t, mark) })
	m := watchMem()
	start := time.Now()
	spec, err := ParseMagnet(tr.Magnet(peers, trackers...))
	if err != nil {
		t.Fatal(err)
	}
	if metaInfo != nil {
		spec.MetaInfo = metaInfo
	}
	tt, err := h.e.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	if metaInfo != nil {
		// A torrent with info wants peers (and dials them) once it may
		// download.
		tt.Start()
	}
	deadline := time.Now().Add(hostilePhase)
	for !done(tt) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !done(tt) {
		t.Logf("hostile phase ran its full %v without the expected outcome", hostilePhase)
	}
	m.stop()
	t.Logf("hostile phase: %v; heap growth peak %s, allocated %s, peak total mapped growth %s",
		time.Since(start).Round(time.Millisecond), mib(m.peakHeap), mib(m.allocated), mib(m.peakTotal))
	return tt, m
}

// deliver has the seeder join tt's swarm and checks that the metadata and
// every byte then arrive, right.
func (h *harness) deliver(t *testing.T, tt Torrent, tr *enginetest.Torrent) {
	t.Helper()
	start := time.Now()
	tt.AddPeers([]string{h.seeder.Addr})
	select {
	case <-tt.GotInfo():
	case <-time.After(30 * time.Second):
		t.Fatalf("no metadata from the seeder within 30 s")
	}
	st := tt.Stats()
	if st.Name != tr.Name {
		t.Fatalf("metadata names %q, want %q", st.Name, tr.Name)
	}
	mi, err := tt.MetaInfo()
	if err != nil {
		t.Fatal(err)
	}
	got, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	if ih := got.HashInfoBytes().HexString(); ih != tr.InfoHash {
		t.Fatalf("info hashes to %s, want %s", ih, tr.InfoHash)
	}
	tt.Start()
	tt.AddPeers([]string{h.seeder.Addr})
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = tt.Stats()
		if st.HasInfo && st.Completed == st.Size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download stuck at %d of %d bytes (peers %d)", st.Completed, st.Size, st.Peers)
		}
		time.Sleep(10 * time.Millisecond)
	}
	enginetest.SameFiles(t, tr, h.dir)
	if n := h.log.longestAlert(); n > maxUserText {
		t.Errorf("alert of %d bytes", n)
	}
	t.Logf("then the seeder delivered metadata and %d bytes in %v", st.Size, time.Since(start).Round(time.Millisecond))
	tt.Drop()
}

func infoBytes(t *testing.T, torrentData []byte) []byte {
	t.Helper()
	mi, err := metainfo.Load(bytes.NewReader(torrentData))
	if err != nil {
		t.Fatal(err)
	}
	return mi.InfoBytes
}

// bigInfo returns a valid info dictionary of about n bytes (many files).
func bigInfo(t *testing.T, n int) []byte {
	t.Helper()
	info := metainfo.Info{Name: "forged", PieceLength: 16 << 10}
	for i := 0; len(info.Files)*40 < n; i++ {
		info.Files = append(info.Files, metainfo.FileInfo{Length: 1, Path: []string{fmt.Sprintf("file-%06d.bin", i)}})
	}
	info.Pieces = make([]byte, 20*((len(info.Files)+(16<<10)-1)/(16<<10)))
	b, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha1Sum(b []byte) []byte { s := sha1.Sum(b); return s[:] }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// memWatch samples the heap while a case runs.
type memWatch struct {
	baseHeap, baseAlloc, baseTotal uint64
	peakHeap, allocated, peakTotal uint64
	quit, done                     chan struct{}
}

var memMetrics = []string{"/memory/classes/heap/objects:bytes", "/gc/heap/allocs:bytes", "/memory/classes/total:bytes"}

func readMem() (heap, alloc, total uint64) {
	s := make([]metrics.Sample, len(memMetrics))
	for i, n := range memMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
}

func watchMem() *memWatch {
	runtime.GC()
	m := &memWatch{quit: make(chan struct{}), done: make(chan struct{})}
	m.baseHeap, m.baseAlloc, m.baseTotal = readMem()
	go func() {
		defer close(m.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			m.sample()
			select {
			case <-m.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *memWatch) sample() {
	heap, alloc, total := readMem()
	if heap > m.baseHeap {
		m.peakHeap = max(m.peakHeap, heap-m.baseHeap)
	}
	if total > m.baseTotal {
		m.peakTotal = max(m.peakTotal, total-m.baseTotal)
	}
	m.allocated = alloc - m.baseAlloc
}

func (m *memWatch) stop() {
	close(m.quit)
	<-m.done
	m.sample()
}

// check fails the test if the case grew the heap, or allocated, past
// heapBudget.
func (m *memWatch) check(t *testing.T) {
	t.Helper()
	if m.peakHeap > heapBudget || m.allocated > heapBudget {
		t.Errorf("heap grew by %s and %s was allocated; budget %s", mib(m.peakHeap), mib(m.allocated), mib(heapBudget))
	}
}

// logRecorder is a slog.Handler that keeps what the engine logged (values
// truncated) and the alerts it raised, for the test log.
type logRecorder struct {
	attrs []slog.Attr
	s     *logStore
}

type logStore struct {
	mu      sync.Mutex
	lines   []string
	longest int // longest string or error value seen, in bytes
	alerts  int // alerts received
	// maxAlert is the longest alert message since the last mark.
	maxAlert int
}

func (r *logRecorder) store() *logStore { return r.s }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	s := r.store()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", rec.Level, rec.Message)
	longest := 0
	add := func(a slog.Attr) bool {
		var v string
		switch a.Value.Kind() {
		case slog.KindString:
			v = a.Value.String()
		case slog.KindAny:
			switch x := a.Value.Any().(type) {
			case error:
				v = x.Error()
			case nil:
				v = "<nil>"
			default:
				// Formatting arbitrary values (a response with 700k peers)
				// would cost more than the engine itself spends.
				v = fmt.Sprintf("<%T>", x)
			}
		case slog.KindGroup:
			v = "<group>"
		default:
			v = a.Value.String()
		}
		longest = max(longest, len(v))
		if len(v) > 160 {
			v = fmt.Sprintf("%.160s…(%d bytes)", v, len(v))
		}
		fmt.Fprintf(&b, " %s=%q", a.Key, v)
		return true
	}
	for _, a := range r.attrs {
		add(a)
	}
	rec.Attrs(add)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.longest = max(s.longest, longest)
	if len(s.lines) < 20000 {
		s.lines = append(s.lines, b.String())
	}
	return nil
}

func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder{attrs: append(slices.Clip(r.attrs), as...), s: r.store()}
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

func (r *logRecorder) alert(a Alert) {
	s := r.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts++
	s.maxAlert = max(s.maxAlert, len(a.Message))
	if len(s.lines) < 20000 {
		s.lines = append(s.lines, fmt.Sprintf("ALERT %s %.200q (%d bytes)", a.Level, a.Message, len(a.Message)))
	}
	s.longest = max(s.longest, len(a.Message))
}

func (r *logRecorder) longestAlert() int {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.maxAlert
}

func (r *logRecorder) alertCount() int {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.alerts
}

func (r *logRecorder) mark() int {
	s := r.store()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.longest, s.maxAlert = 0, 0
	return len(s.lines)
}

// report logs the distinct records (by level and message) since mark,
// with counts and one example each.
func (r *logRecorder) report(t *testing.T, mark int) {
	s := r.store()
	s.mu.Lock()
	lines := slices.Clone(s.lines[min(mark, len(s.lines)):])
	longest := s.longest
	s.mu.Unlock()
	type entry struct {
		n       int
		example string
	}
	seen := map[string]*entry{}
	var order []string
	for _, l := range lines {
		key := l
		if i := strings.Index(l, `" `); i > 0 {
			key = l[:i]
		}
		key = logNoise.ReplaceAllString(key, "#")
		if e := seen[key]; e != nil {
			e.n++
			continue
		}
		seen[key] = &entry{n: 1, example: l}
		order = append(order, key)
	}
	for _, k := range order {
		if strings.Contains(k, "DEBUG") && !interesting(k) {
			continue
		}
		t.Logf("engine log ×%d: %.400s", seen[k].n, seen[k].example)
	}
	t.Logf("engine log: %d records; longest value %d bytes", len(lines), longest)
}

// logNoise matches what varies between otherwise equal records: hashes,
// pointers, numbers.
var logNoise = regexp.MustCompile(`[0-9a-f]{40}|0x[0-9a-f]+|[0-9]+`)

// interesting picks the debug records worth showing.
func interesting(k string) bool {
	for _, s := range []string{"announced", "metadata", "error", "bad", "ALERT"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// clip quotes s, keeping its head and tail when it is long.
func clip(s string) string {
	if len(s) <= 400 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q…%q", s[:200], s[len(s)-200:])
}
