package engine

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
)

// The anacrolix core gives its announcer at most AnacrolixMaxTrackers of a
// task's trackers (issue 15, item 16): its cost per announce grows with a
// torrent's trackers, under the client's lock, and 80 magnets of 200 dead
// trackers once took over 10 minutes to add. The rest stay listed, never
// contacted, through an add, a magnet added again and a new list.
func TestAnacrolixTrackersCapped(t *testing.T) {
	e, err := New(Config{Core: CoreAnacrolix, DownloadDir: t.TempDir(), StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// A port where nothing listens: announces fail at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	urls := func(from, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("http://%s/t%d/announce", addr, from+i)
		}
		return out
	}
	magnet := func(trackers []string) string {
		var b strings.Builder
		b.WriteString("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567")
		for _, u := range trackers {
			b.WriteString("&tr=" + url.QueryEscape(u))
		}
		return b.String()
	}
	check := func(what string, tt Torrent, want []string) {
		t.Helper()
		var given int
		mi := tt.(*anacrolixTorrent).t.Metainfo()
		for _, tier := range mi.UpvertedAnnounceList() {
			given += len(tier)
		}
		if given > AnacrolixMaxTrackers {
			t.Errorf("%s: the engine was given %d trackers; want at most %d", what, given, AnacrolixMaxTrackers)
		}
		got := tt.Trackers()
		if len(got) != len(want) {
			t.Fatalf("%s: %d trackers listed, want %d", what, len(got), len(want))
		}
		wrong := 0
		for i, st := range got {
			if st.URL != want[i] {
				t.Fatalf("%s: tracker %d is %s, want %s", what, i, st.URL, want[i])
			}
			if past := i >= AnacrolixMaxTrackers; past != (st.LastError == notAnnouncedText) {
				wrong++
			}
		}
		if wrong > 0 {
			t.Errorf("%s: %d trackers listed wrongly: the first %d are announced to, the rest shown as not announced to", what, wrong, AnacrolixMaxTrackers)
		}
	}

	first := urls(0, MaxTrackers)
	spec, err := ParseMagnet(magnet(first))
	if err != nil {
		t.Fatal(err)
	}
	tt, err := e.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer tt.Drop()
	check("add", tt, first)

	more := urls(MaxTrackers, 10)
	again, err := ParseMagnet(magnet(more))
	if err != nil {
		t.Fatal(err)
	}
	if err := tt.Merge(again); err != nil {
		t.Fatal(err)
	}
	check("magnet added again", tt, append(first, more...))

	few := urls(500, 20)
	tt.SetTrackers(few)
	check("new list", tt, few)
	tt.SetTrackers(first)
	check("200 again", tt, first)
}

// A tracker URL that url.URL.String writes differently (here a path with
// a right-to-left override, percent-encoded by String) made the anacrolix
// core panic when the task was added (issue 15, found with item 14): a
// stranger's torrent could crash task.add. Both cores take it, in its
// encoded form.
func TestTrackerURLNotInCanonicalForm(t *testing.T) {
	for _, core := range []string{CoreNative, CoreAnacrolix} {
		t.Run(core, func(t *testing.T) {
			e, err := New(Config{Core: core, DownloadDir: t.TempDir(), StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			tr := "http://127.0.0.1:1/\u202egpj.exe/announce"
			spec, err := ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=" + url.QueryEscape(tr))
			if err != nil {
				t.Fatal(err)
			}
			tt, err := e.Add(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer tt.Drop()
			got := tt.Trackers()
			if len(got) != 1 || !strings.Contains(got[0].URL, "127.0.0.1:1/") {
				t.Fatalf("trackers %+v, want the one given", got)
			}
		})
	}
}
