package engine

import (
	"log/slog"
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

// Trackers returns the torrent's trackers in announce-list order, with
// what is known of each.
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
	return out
}

// SetTrackers replaces the torrent's trackers, one tier each. URLs must
// have been checked with CheckTrackerURL.
func (t *anacrolixTorrent) SetTrackers(urls []string) {
	tiers := make([][]string, len(urls))
	for i, u := range urls {
		tiers[i] = []string{u}
	}
	t.t.ModifyTrackers(tiers)
}

// CheckTrackerURL accepts http, https and udp tracker URLs.
func CheckTrackerURL(u string) error { return checkTrackerURL(u) }
