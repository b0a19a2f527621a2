package native

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/anacrolix/torrent/tracker"
)

const (
	announceTimeout  = 15 * time.Second
	minAnnounceEvery = 30 * time.Second
	retryAnnounce    = 15 * time.Second
)

// TrackerStat is what is known of one tracker of a torrent.
type TrackerStat struct {
	URL string
	// LastAnnounce is when the last announce attempt ended; zero if none
	// did yet. LastError is its error, "" after a success.
	LastAnnounce time.Time
	LastError    string
	// Seeders and Leechers are as of the last successful announce, -1
	// when unknown.
	Seeders, Leechers int
	// NextAnnounce is when the next announce is due; zero when unknown.
	NextAnnounce time.Time
}

// trackerState is the announce loop's record of one tracker.
type trackerState struct {
	stat              TrackerStat
	next              time.Time
	started, complete bool
}

// Trackers returns the torrent's trackers, in order, with what is known
// of each.
func (t *Torrent) Trackers() []TrackerStat {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TrackerStat, len(t.trackers))
	for i, u := range t.trackers {
		out[i] = TrackerStat{URL: u, Seeders: -1, Leechers: -1}
		if st := t.trackerStates[u]; st != nil {
			out[i] = st.stat
		}
	}
	return out
}

// SetTrackers replaces the torrent's trackers. Trackers that stay keep
// their state; the new ones are announced to at once.
func (t *Torrent) SetTrackers(urls []string) {
	t.mu.Lock()
	t.trackers = slices.Clone(urls)
	t.mu.Unlock()
	t.kickAnnounce()
}

// announceLoop announces to every tracker of the torrent: at once
// "started", then at the interval the tracker asks for (never more often
// than every 30 s), "completed" as soon as the download is done, and
// "stopped" when the torrent closes or pauses ("started" again when it
// resumes). Each tracker keeps its own events, so one that was down still
// gets "started" first. Between announces the loop sleeps until the next
// one is due: an idle torrent costs no wake-ups.
func (t *Torrent) announceLoop() {
	done := t.doneC // nil once seen: a closed channel would fire every time
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		now := time.Now()
		finished := done == nil
		t.mu.Lock()
		paused := t.paused
		urls := slices.Clone(t.trackers)
		for u := range t.trackerStates {
			if !slices.Contains(urls, u) {
				delete(t.trackerStates, u)
			}
		}
		t.mu.Unlock()
		for _, u := range urls {
			st := t.trackerState(u)
			if paused {
				if st.started {
					t.announce(u, st, tracker.Stopped, time.Second)
				}
				st.started, st.complete, st.next = false, false, time.Time{}
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
			iv, ok := t.announce(u, st, ev, announceTimeout)
			if !ok {
				st.next = now.Add(retryAnnounce)
				continue
			}
			st.started = true
			st.complete = st.complete || finished
			st.next = now.Add(max(iv, minAnnounceEvery))
		}
		due := time.Now().Add(time.Hour) // paused or no tracker: wait for a kick
		t.mu.Lock()
		for _, st := range t.trackerStates {
			st.stat.NextAnnounce = st.next
			if !paused && st.next.Before(due) {
				due = st.next
			}
		}
		t.mu.Unlock()
		wake.Reset(max(time.Until(due), 0))
		select {
		case <-t.ctx.Done():
			for _, u := range urls {
				if st := t.trackerState(u); st.started {
					t.announce(u, st, tracker.Stopped, time.Second)
				}
			}
			return
		case <-done:
			done = nil
			t.mu.Lock()
			for _, st := range t.trackerStates {
				if st.started && !st.complete {
					st.next = time.Time{} // say "completed" now
				}
			}
			t.mu.Unlock()
		case <-wake.C:
		case <-t.pauseC:
		}
	}
}

// trackerState returns the state of the tracker at url, made on first
// use. Only the announce loop changes a state's events and times.
func (t *Torrent) trackerState(url string) *trackerState {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.trackerStates[url]
	if st == nil {
		st = &trackerState{stat: TrackerStat{URL: url, Seeders: -1, Leechers: -1}}
		t.trackerStates[url] = st
	}
	return st
}

// announce sends one announce, records its outcome in st, and hands the
// peers it got to the torrent; it returns the tracker's interval.
func (t *Torrent) announce(url string, st *trackerState, ev tracker.AnnounceEvent, timeout time.Duration) (time.Duration, bool) {
	base := t.ctx // closing the torrent ends an announce in flight...
	if ev == tracker.Stopped {
		base = context.WithoutCancel(t.ctx) // ...but not the goodbye
	}
	ctx, cancel := context.WithTimeout(base, timeout)
	defer cancel()
	s := t.Stats()
	left := t.meta.Length - int64(s.Have)*t.meta.PieceLength
	if s.Have == s.Pieces {
		left = 0
	}
	res, err := t.c.announceRequest(ctx, url, tracker.AnnounceRequest{
		InfoHash:   t.meta.InfoHash,
		PeerId:     t.c.cfg.PeerID,
		Downloaded: s.Downloaded,
		Uploaded:   s.Uploaded,
		Left:       max(left, 0),
		Event:      ev,
		NumWant:    50,
		Port:       t.c.Addr().Port(),
	}, t.log)
	stat := t.c.announced(t.meta.InfoHash, url, res, err)
	t.mu.Lock()
	st.stat.LastAnnounce, st.stat.LastError = stat.LastAnnounce, stat.LastError
	if err == nil {
		st.stat.Seeders, st.stat.Leechers = stat.Seeders, stat.Leechers
	}
	t.mu.Unlock()
	if err != nil {
		if ev != tracker.Stopped {
			t.log.Warn("tracker announce failed: "+url, "err", err)
		}
		return 0, false
	}
	var addrs []netip.AddrPort
	for _, p := range res.Peers {
		if ap, ok := p.ToNetipAddrPort(); ok {
			addrs = append(addrs, ap)
		}
	}
	if len(addrs) > 0 && ev != tracker.Stopped {
		t.addPeers(addrs, SourceTracker)
	}
	return time.Duration(res.Interval) * time.Second, true
}
