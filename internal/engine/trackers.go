package engine

import (
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/tracker"
)

// TrackerStatus is what is known of one tracker of a torrent.
type TrackerStatus struct {
	URL string
	// LastAnnounce is when the last announce attempt completed; zero if
	// none did yet.
	LastAnnounce time.Time
	// LastError is the error of the last attempt, "" after a success.
	LastError string
	// Seeders and Leechers are as of the last successful announce; -1
	// when unknown.
	Seeders, Leechers int
	// NextAnnounce is when the tracker asked to be announced to again;
	// zero when unknown.
	NextAnnounce time.Time
}

// trackerBook records announce results, fed from the engine's log records
// (the engine reports HTTP and UDP announces only there).
type trackerBook struct {
	mu sync.Mutex
	m  map[string]map[string]*TrackerStatus // info-hash → URL → status
}

// record notes the outcome of an announce to url for info-hash ih.
func (b *trackerBook) record(ih, url string, resp slog.Value, errText string) {
	if ih == "" || url == "" {
		return
	}
	// The engine announces udp:// trackers as udp4:// or udp6://.
	for _, p := range []string{"udp4://", "udp6://"} {
		if rest, ok := strings.CutPrefix(url, p); ok {
			url = "udp://" + rest
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = make(map[string]map[string]*TrackerStatus)
	}
	if b.m[ih] == nil {
		b.m[ih] = make(map[string]*TrackerStatus)
	}
	st := b.m[ih][url]
	if st == nil {
		st = &TrackerStatus{URL: url, Seeders: -1, Leechers: -1}
		b.m[ih][url] = st
	}
	now := time.Now()
	st.LastAnnounce, st.LastError = now, errText
	if errText != "" {
		return
	}
	var r tracker.AnnounceResponse
	switch v := resp.Any().(type) {
	case tracker.AnnounceResponse:
		r = v
	case *tracker.AnnounceResponse:
		if v != nil {
			r = *v
		}
	default:
		return
	}
	st.Seeders, st.Leechers = int(r.Seeders), int(r.Leechers)
	if r.Interval > 0 {
		st.NextAnnounce = now.Add(time.Duration(r.Interval) * time.Second)
	}
}

// AnacrolixMaxTrackers is how many of a task's trackers the anacrolix core
// announces to (issue 15, item 16). Its announcer updates a row per
// tracker of a torrent at every announce of that torrent, under the
// client's lock: 80 magnets with 200 dead trackers each took over 10
// minutes to add (60 of them), stalling every call; with 50 each, 2 s.
// The trackers past the first 50 are listed by Trackers, never contacted.
const AnacrolixMaxTrackers = 50

// notAnnouncedText is the last error shown for a tracker past
// AnacrolixMaxTrackers.
var notAnnouncedText = fmt.Sprintf("not announced to: the anacrolix core announces to a task's first %d trackers only", AnacrolixMaxTrackers)

// capTrackers keeps the first n distinct URLs of tiers, in their tiers,
// and returns the distinct URLs past them. Every URL is in the form
// url.URL.String gives it (canonicalTracker); one without such a form is
// dropped.
func capTrackers(tiers [][]string, n int) (kept [][]string, rest []string) {
	var seen []string
	for _, tier := range tiers {
		var k []string
		for _, u := range tier {
			u, ok := canonicalTracker(u)
			if !ok || slices.Contains(seen, u) {
				continue
			}
			seen = append(seen, u)
			if len(seen) <= n {
				k = append(k, u)
			} else {
				rest = append(rest, u)
			}
		}
		if len(k) > 0 {
			kept = append(kept, k)
		}
	}
	return kept, rest
}

// canonicalTracker returns u as url.URL.String writes it: the anacrolix
// core panics on a tracker URL that is not in that form (it compares the
// two), which a stranger's torrent could otherwise trigger with, say, a
// non-ASCII path (http://h/\u202egpj.exe/announce). ok is false when u
// does not parse, or its form does not come back to itself.
func canonicalTracker(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil {
		return "", false
	}
	c := p.String()
	if q, err := url.Parse(c); err != nil || q.String() != c {
		return "", false
	}
	return c, true
}

// setUnannounced records the trackers past AnacrolixMaxTrackers, and
// those withheld (withholdNamedUDP).
func (t *anacrolixTorrent) setUnannounced(urls, withheld []string) {
	t.trackersMu.Lock()
	t.unannounced, t.withheld = urls, withheld
	t.trackersMu.Unlock()
}

// Trackers returns the torrent's trackers in announce-list order, with
// what is known of each; then those past AnacrolixMaxTrackers, not
// contacted.
func (t *anacrolixTorrent) Trackers() []TrackerStatus {
	mi := t.t.Metainfo()
	var out []TrackerStatus
	var seen []string
	for _, tier := range mi.UpvertedAnnounceList() {
		for _, u := range tier {
			if slices.Contains(seen, u) {
				continue
			}
			seen = append(seen, u)
			st := TrackerStatus{URL: u, Seeders: -1, Leechers: -1}
			t.book.mu.Lock()
			if s := t.book.m[t.id][u]; s != nil {
				st = *s
			}
			t.book.mu.Unlock()
			out = append(out, st)
		}
	}
	t.trackersMu.Lock()
	defer t.trackersMu.Unlock()
	for _, u := range t.unannounced {
		if !slices.Contains(seen, u) {
			seen = append(seen, u)
			out = append(out, TrackerStatus{URL: u, LastError: notAnnouncedText, Seeders: -1, Leechers: -1})
		}
	}
	for _, u := range t.withheld {
		if !slices.Contains(seen, u) {
			seen = append(seen, u)
			out = append(out, TrackerStatus{URL: u, LastError: withheldText, Seeders: -1, Leechers: -1})
		}
	}
	return out
}

// SetTrackers replaces the torrent's trackers, one tier each; the engine
// gets the first AnacrolixMaxTrackers. URLs must have been checked with
// CheckTrackerURL.
func (t *anacrolixTorrent) SetTrackers(urls []string) {
	tiers := make([][]string, len(urls))
	for i, u := range urls {
		tiers[i] = []string{u}
	}
	kept, withheld := withholdNamedUDP(t.route(), tiers)
	kept, rest := capTrackers(kept, AnacrolixMaxTrackers)
	t.setUnannounced(rest, withheld)
	t.t.ModifyTrackers(kept)
}

// addTrackers adds the trackers of tiers after the torrent's own, the
// engine getting the first AnacrolixMaxTrackers of them all.
func (t *anacrolixTorrent) addTrackers(tiers [][]string) {
	t.trackersMu.Lock()
	over, held := t.unannounced, t.withheld
	t.trackersMu.Unlock()
	mi := t.t.Metainfo()
	all := mi.UpvertedAnnounceList()
	if len(over) > 0 {
		all = append(all, over)
	}
	if len(held) > 0 {
		all = append(all, held)
	}
	all = append(all, tiers...)
	kept, withheld := withholdNamedUDP(t.route(), all)
	kept, rest := capTrackers(kept, AnacrolixMaxTrackers)
	t.setUnannounced(rest, withheld)
	t.t.ModifyTrackers(kept)
}

// route is the engine's proxy route, nil without a proxy (or an engine).
func (t *anacrolixTorrent) route() *proxyRoute {
	if t.eng == nil {
		return nil
	}
	return t.eng.route
}

// CheckTrackerURL accepts http, https and udp tracker URLs.
func CheckTrackerURL(u string) error { return checkTrackerURL(u) }
