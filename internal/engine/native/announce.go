package native

import (
	"context"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/tracker"
)

const (
	announceTimeout  = 15 * time.Second
	minAnnounceEvery = 30 * time.Second
	retryAnnounce    = 15 * time.Second
)

// announceLoop announces to every tracker of the torrent: started, then
// at the interval the tracker asks for (never more often than every
// 30 s), completed once done, stopped when closed. Runs in t.wg.
func (t *Torrent) announceLoop() {
	defer t.wg.Done()
	next := make([]time.Time, len(t.meta.Trackers))
	event := tracker.Started
	done := t.doneC // nil once seen: a closed channel would fire every time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			if event != tracker.Started {
				for _, u := range t.meta.Trackers {
					t.announce(u, tracker.Stopped, time.Second)
				}
			}
			return
		case <-done:
			done = nil
			clear(next) // announce completion now
			if event != tracker.Started {
				event = tracker.Completed
			}
		case <-tick.C:
		}
		now := time.Now()
		sent := false
		for i, u := range t.meta.Trackers {
			if now.Before(next[i]) {
				continue
			}
			iv, ok := t.announce(u, event, announceTimeout)
			if !ok {
				next[i] = now.Add(retryAnnounce)
				continue
			}
			sent = true
			next[i] = now.Add(max(iv, minAnnounceEvery))
		}
		if sent && (event == tracker.Started || event == tracker.Completed) {
			event = tracker.None
		}
	}
}

// announce sends one announce and hands the peers it got to the
// torrent; it returns the tracker's interval.
func (t *Torrent) announce(url string, ev tracker.AnnounceEvent, timeout time.Duration) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), timeout)
	defer cancel()
	st := t.Stats()
	left := t.meta.Length - int64(st.Have)*t.meta.PieceLength
	if st.Have == st.Pieces {
		left = 0
	}
	res, err := tracker.Announce{
		TrackerUrl: url,
		Context:    ctx,
		Slogger:    t.log,
		Request: tracker.AnnounceRequest{
			InfoHash:   t.meta.InfoHash,
			PeerId:     t.c.cfg.PeerID,
			Downloaded: st.Downloaded,
			Left:       max(left, 0),
			Event:      ev,
			NumWant:    50,
			Port:       t.c.Addr().Port(),
		},
	}.Do()
	if err != nil {
		t.log.Warn("announce failed", "tracker", url, "err", err)
		return 0, false
	}
	var addrs []netip.AddrPort
	for _, p := range res.Peers {
		if ap, ok := p.ToNetipAddrPort(); ok {
			addrs = append(addrs, ap)
		}
	}
	if len(addrs) > 0 && ev != tracker.Stopped {
		t.AddPeers(addrs)
	}
	return time.Duration(res.Interval) * time.Second, true
}
