package native

import (
	"context"
	"errors"
	"log/slog"
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

// Reannounce makes the torrent announce to every tracker now, whatever
// their intervals, and look itself up on the DHT again (when the client
// runs one and the torrent is not private). A paused torrent announces
// when it resumes, as it would anyway.
func (t *Torrent) Reannounce() {
	t.mu.Lock()
	t.reannounce = true
	t.mu.Unlock()
	t.kickAnnounce()
	t.kickDHT()
}

// announceLoop announces to every tracker of the torrent: at once
// "started", then at the interval the tracker asks for (never more often
// than every 30 s), "completed" as soon as the download is done, and
// "stopped" when the torrent closes or pauses ("started" again when it
// resumes). Each tracker keeps its own events, so one that was down still
// gets "started" first. Every tracker of the torrent is announced to
// (each URL is its own tier, as with a magnet's tr=: BEP 12's fallback
// within a tier is not used), at most announcesPerTorrent at once. Between
// announces the loop sleeps until the next one is due: an idle torrent
// costs no wake-ups, and no goroutine waits per tracker.
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
		for u, st := range t.trackerStates {
			if !slices.Contains(urls, u) {
				delete(t.trackerStates, u)
			} else if t.reannounce {
				st.next = time.Time{}
			}
		}
		t.reannounce = false
		t.mu.Unlock()
		if paused {
			t.sayStopped(urls)
		} else {
			var due []string
			for _, u := range urls {
				// A URL twice (in two tiers) is announced to once.
				if st := t.trackerState(u); !now.Before(st.next) && !slices.Contains(due, u) {
					due = append(due, u)
				}
			}
			forEachBounded(t.ctx, due, announcesPerTorrent, func(u string, wait bool) (busy bool) {
				t.mu.Lock()
				nowPaused := t.paused
				t.mu.Unlock()
				if nowPaused {
					return false // paused during the round: the next says "stopped"
				}
				st := t.trackerState(u)
				ev := tracker.None
				switch {
				case !st.started:
					ev = tracker.Started
				case finished && !st.complete:
					ev = tracker.Completed
				}
				iv, retry, err := t.announce(t.ctx, u, wait, st, ev, t.c.cfg.TrackerTimeout)
				if errors.Is(err, errTrackerBusy) {
					return true
				}
				if err != nil {
					st.next = later(now.Add(retryAnnounce), retry)
					return false
				}
				st.started = true
				st.complete = st.complete || finished
				st.next = now.Add(max(iv, minAnnounceEvery))
				return false
			})
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
			t.sayStopped(urls)
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

// stoppedWait bounds the "stopped" announces of a torrent that closes or
// pauses, all of them together.
const stoppedWait = time.Second

// sayStopped tells the trackers of urls that were told "started" that the
// torrent stopped, and forgets their events: within stoppedWait for all
// of them, announcesPerTorrent at once. Closing the torrent does not cut
// the goodbye short.
func (t *Torrent) sayStopped(urls []string) {
	var started []string
	for _, u := range urls {
		if st := t.trackerState(u); st.started && !slices.Contains(started, u) {
			started = append(started, u)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), stoppedWait)
	defer cancel()
	forEachBounded(ctx, started, announcesPerTorrent, func(u string, wait bool) (busy bool) {
		_, _, err := t.announce(ctx, u, wait, t.trackerState(u), tracker.Stopped, stoppedWait)
		return errors.Is(err, errTrackerBusy)
	})
	for _, u := range urls {
		st := t.trackerState(u)
		st.started, st.complete, st.next = false, false, time.Time{}
	}
}

// trackerState returns the state of the tracker at url, made on first
// use. Only the announce loop changes a state's events and times (its
// workers each the state of one tracker).
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

// announce sends one announce within ctx (see Client.announceRequest for
// wait), records its outcome in st, and hands the peers it got to the
// torrent; it returns the tracker's interval, or the error and when the
// tracker may be tried again. An announce not sent because the tracker
// was busy (errTrackerBusy), or cut short by the torrent's end, records
// nothing.
func (t *Torrent) announce(ctx context.Context, url string, wait bool, st *trackerState, ev tracker.AnnounceEvent, timeout time.Duration) (interval time.Duration, retry time.Time, err error) {
	s := t.Stats()
	left := t.meta.Length - int64(s.Have)*t.meta.PieceLength
	if s.Have == s.Pieces {
		left = 0
	}
	res, retry, err := t.c.announceRequest(ctx, url, wait, tracker.AnnounceRequest{
		InfoHash:   t.meta.InfoHash,
		PeerId:     t.c.policy().peerID,
		Downloaded: s.Downloaded,
		Uploaded:   s.Uploaded,
		Left:       max(left, 0),
		Event:      ev,
		NumWant:    50,
		Port:       t.c.Addr().Port(),
	}, timeout)
	if errors.Is(err, errTrackerBusy) || err != nil && ctx.Err() != nil && ev != tracker.Stopped {
		return 0, time.Time{}, err
	}
	stat := t.c.announced(t.meta.InfoHash, url, res, retry, err)
	t.mu.Lock()
	st.stat.LastAnnounce, st.stat.LastError = stat.LastAnnounce, stat.LastError
	if err == nil {
		st.stat.Seeders, st.stat.Leechers = stat.Seeders, stat.Leechers
	}
	t.mu.Unlock()
	if err != nil {
		if ev != tracker.Stopped {
			logAnnounceFailure(t.log, url, err)
		}
		return 0, retry, err
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
	return time.Duration(res.Interval) * time.Second, time.Time{}, nil
}

// logAnnounceFailure logs a failed announce as a warning (which the daemon
// shows as an alert of the torrent), except one not sent because the
// tracker backs off: the announce that failed first was warned of, and
// 80 torrents sharing 200 dead trackers must not make 16,000 warnings.
func logAnnounceFailure(log *slog.Logger, url string, err error) {
	if errors.Is(err, ErrTrackerBackoff) {
		log.Debug("tracker announce skipped: "+url, "err", err)
		return
	}
	log.Warn("tracker announce failed: "+url, "err", err)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
