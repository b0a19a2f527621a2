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

// announceLoop announces to every tracker of the torrent: at once
// "started", then at the interval the tracker asks for (never more often
// than every 30 s), "completed" as soon as the download is done, and
// "stopped" when the torrent closes or pauses ("started" again when it
// resumes). Each tracker keeps its own events, so one that was down still
// gets "started" first. Between announces the loop sleeps until the next
// one is due: an idle torrent costs no wake-ups.
func (t *Torrent) announceLoop() {
	type trackerState struct {
		next              time.Time
		started, complete bool
	}
	states := make([]trackerState, len(t.meta.Trackers))
	done := t.doneC // nil once seen: a closed channel would fire every time
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		now := time.Now()
		finished := done == nil
		paused := t.Paused()
		for i, u := range t.meta.Trackers {
			st := &states[i]
			if paused {
				if st.started {
					t.announce(u, tracker.Stopped, time.Second)
				}
				*st = trackerState{}
				continue
			}
			if now.Before(st.next) {
				continue
			}
			ev := tracker.None
			switch {
			case !st.started:
				ev = tracker.Started
			case finished && !st.complete:
				ev = tracker.Completed
			}
			iv, ok := t.announce(u, ev, announceTimeout)
			if !ok {
				st.next = now.Add(retryAnnounce)
				continue
			}
			st.started = true
			st.complete = st.complete || finished
			st.next = now.Add(max(iv, minAnnounceEvery))
		}
		due := time.Now().Add(time.Hour) // paused: wait for a kick
		for _, st := range states {
			if !paused && st.next.Before(due) {
				due = st.next
			}
		}
		wake.Reset(max(time.Until(due), 0))
		select {
		case <-t.ctx.Done():
			for i, u := range t.meta.Trackers {
				if states[i].started {
					t.announce(u, tracker.Stopped, time.Second)
				}
			}
			return
		case <-done:
			done = nil
			for i := range states {
				if states[i].started && !states[i].complete {
					states[i].next = time.Time{} // say "completed" now
				}
			}
		case <-wake.C:
		case <-t.pauseC:
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
