package engine

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// Reannounce on the anacrolix core. v1.62.0 has no call that makes its
// announcer contact a torrent's trackers before their interval is over
// (ModifyTrackers keeps each tracker's schedule), so the torrent's
// trackers are announced to here, once each, with the engine's own tracker
// dialer and UDP sockets (and so its guards), and what they answer is
// recorded and used as the announcer's answers are. The announcer's own
// schedule is left as it is.

const (
	// reannounceParallel bounds the trackers of one Reannounce contacted
	// at once.
	reannounceParallel = 8
	// reannounceDHTWait bounds a DHT announce started by Reannounce.
	reannounceDHTWait = 2 * time.Minute
)

// background runs the engine's own short-lived work (reannounces) and
// ends it when the engine closes.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// stop ends the work and waits for it.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

// Reannounce announces to every tracker of the torrent now, and to the
// DHT when it is on (and the torrent is not private), in the background:
// Trackers shows the outcome.
func (t *anacrolixTorrent) Reannounce() {
	e := t.eng
	if e == nil {
		return
	}
	var urls []string
	mi := t.t.Metainfo()
	for _, tier := range mi.UpvertedAnnounceList() {
		for _, u := range tier {
			if !slices.Contains(urls, u) {
				urls = append(urls, u)
			}
		}
	}
	e.bg.wg.Go(func() {
		sem := make(chan struct{}, reannounceParallel)
		var wg sync.WaitGroup
		for _, u := range urls {
			select {
			case sem <- struct{}{}:
			case <-e.bg.ctx.Done():
				wg.Wait()
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				t.announceOnce(e.bg.ctx, u)
			})
		}
		wg.Wait()
	})
	if info := t.t.Info(); info != nil && info.Private != nil && *info.Private {
		return
	}
	for _, s := range e.cl.DhtServers() {
		done, stop, err := t.t.AnnounceToDht(s)
		if err != nil {
			e.log.Debug("reannounce to DHT", "infohash", t.id, "err", err)
			continue
		}
		e.bg.wg.Go(func() {
			defer stop()
			select {
			case <-done:
			case <-time.After(reannounceDHTWait):
			case <-e.bg.ctx.Done():
			}
		})
	}
}

// announceOnce announces the torrent to the tracker at u, records the
// outcome in the tracker book and adds the peers it names.
func (t *anacrolixTorrent) announceOnce(ctx context.Context, u string) {
	e := t.eng
	pu, err := url.Parse(u)
	if err != nil {
		return
	}
	cl, err := tracker.NewClient(u, tracker.NewClientOpts{
		Http:         trHttp.NewClientOpts{DialContext: e.trackerDial, ServerName: pu.Hostname()},
		Slogger:      e.log,
		ListenPacket: e.trackerListen,
	})
	if err != nil {
		t.book.record(t.id, u, slog.Value{}, err.Error())
		return
	}
	defer cl.Close()
	st := t.t.Stats()
	left := int64(-1) // unknown without the metadata
	if t.t.Info() != nil {
		left = t.t.BytesMissing()
	}
	ctx, cancel := context.WithTimeout(ctx, tracker.DefaultTrackerAnnounceTimeout)
	defer cancel()
	res, err := cl.Announce(ctx, tracker.AnnounceRequest{
		InfoHash:   t.t.InfoHash(),
		PeerId:     e.cl.PeerID(),
		Downloaded: st.BytesReadUsefulData.Int64(),
		Uploaded:   st.BytesWrittenData.Int64(),
		Left:       left,
		Event:      tracker.None,
		NumWant:    50,
		Port:       uint16(e.cl.LocalPort()),
	}, tracker.AnnounceOpt{UserAgent: e.userAgent})
	if err != nil {
		if ctx.Err() == nil || e.bg.ctx.Err() == nil {
			t.book.record(t.id, u, slog.Value{}, err.Error())
			e.log.Warn("tracker reannounce failed: "+u, "infohash", t.id, "err", err)
		}
		return
	}
	t.book.record(t.id, u, slog.AnyValue(res), "")
	var ps []torrent.PeerInfo
	for _, p := range res.Peers {
		if ap, ok := p.ToNetipAddrPort(); ok {
			ps = append(ps, torrent.PeerInfo{Addr: ipPortAddr(ap), Source: torrent.PeerSourceTracker})
		}
	}
	if len(ps) > 0 {
		t.t.AddPeers(ps)
	}
}
