package engine

import (
	"crypto/rand"
	"log/slog"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// announceWatchdog works around a lost wake-up in the engine's tracker
// announcer (v1.62.0). One timer drives every HTTP/UDP announce; a torrent
// added (or given trackers) while that timer's callback is between
// computing its next wake-up and setting it is queued for the announcer,
// but the timer is set to the wake-up computed before, often "never".
// The torrent then never announces until something else queues another
// torrent: measured, a 1,000-file torrent added next to a seeder sat 5
// minutes with its only tracker "not contacted", and 2 of 180 torrents
// added at a busy moment never announced.
//
// The watchdog looks every announceWatchInterval for torrents with
// trackers none of which has answered (or failed) yet. Once one has waited
// a full interval it kicks the announcer by adding and dropping a
// throwaway torrent (a random info-hash, no trackers, no storage opened),
// which re-arms the timer. A torrent that still gets no answer (a tracker
// that is slow or never answers, a paused torrent the engine does not
// announce) is kicked for again after twice as long, up to
// maxAnnounceWait.
type announceWatchdog struct {
	cl   *torrent.Client
	book *trackerBook
	log  *slog.Logger
	// waiting: torrents (by info-hash) not yet announced, since when and
	// how long to wait before the next kick.
	waiting    map[metainfo.Hash]*announceWait
	stop, done chan struct{}
	kicks      int
}

type announceWait struct {
	since time.Time
	wait  time.Duration
}

const (
	announceWatchInterval = 5 * time.Second
	maxAnnounceWait       = 5 * time.Minute
)

func startAnnounceWatchdog(cl *torrent.Client, book *trackerBook, log *slog.Logger) *announceWatchdog {
	w := &announceWatchdog{
		cl: cl, book: book, log: log,
		waiting: make(map[metainfo.Hash]*announceWait),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go w.run()
	return w
}

func (w *announceWatchdog) run() {
	defer close(w.done)
	t := time.NewTicker(announceWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			if w.check(now) {
				w.kick()
			}
		}
	}
}

func (w *announceWatchdog) close() {
	close(w.stop)
	<-w.done
}

// check updates the waiting torrents and reports whether one is due.
func (w *announceWatchdog) check(now time.Time) (due bool) {
	present := make(map[metainfo.Hash]bool)
	for _, t := range w.cl.Torrents() {
		ih := t.InfoHash()
		if w.book.announced(ih.HexString()) {
			continue
		}
		wt := w.waiting[ih]
		if wt == nil {
			// Metainfo copies the announce list: only for torrents not
			// announced yet.
			if mi := t.Metainfo(); len(mi.UpvertedAnnounceList()) == 0 {
				continue
			}
			wt = &announceWait{since: now, wait: announceWatchInterval}
			w.waiting[ih] = wt
		}
		present[ih] = true
		if now.Sub(wt.since) >= wt.wait {
			due = true
			wt.since, wt.wait = now, min(2*wt.wait, maxAnnounceWait)
		}
	}
	for ih := range w.waiting {
		if !present[ih] {
			delete(w.waiting, ih)
		}
	}
	return due
}

// kick re-arms the engine's announce timer: adding a torrent queues it
// for the announcer and brings the timer forward.
func (w *announceWatchdog) kick() {
	var ih metainfo.Hash
	rand.Read(ih[:])
	t, _ := w.cl.AddTorrentInfoHash(ih)
	t.Drop()
	w.kicks++
	w.log.Debug("kicked the tracker announcer", "waiting", len(w.waiting), "kicks", w.kicks)
}

// announced reports whether an announce to any tracker of the torrent has
// completed (answered or failed).
func (b *trackerBook) announced(ih string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m[ih]) > 0
}
