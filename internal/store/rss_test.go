package store

import (
	"errors"
	"strings"
	"testing"
)

// The life of an RSS item for a rule: claimed once; a claim a stop caught
// stays taken after a reopen; a failed add gives its episode back and is
// retried up to the bound; an episode is held against other releases;
// removing the rule or the feed forgets what was taken.
func TestRSSClaims(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	claim := func(rule, feed, guid, show, ep string) bool {
		t.Helper()
		n, err := s.ClaimRSSItem(rule, feed, guid, show, ep, 1, 3)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if claim("r", "f", "g1", "", "") {
		t.Fatal("claimed for a rule that does not exist")
	}
	if err := s.PutRSSRule(RSSRule{Name: "r", Include: "x", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRSSFeed(RSSFeed{ID: "f", URL: "http://a.example/rss", IntervalS: 60}); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("g", 1000) // hashed into the key
	if !claim("r", "f", "g1", "show", "S01E02") || !claim("r", "f", long, "", "") {
		t.Fatal("first claims refused")
	}
	if claim("r", "f", "g1", "show", "S01E02") || claim("r", "f", long, "", "") {
		t.Fatal("an item was claimed twice")
	}
	if claim("r", "f", "g2", "show", "S01E02") {
		t.Fatal("another release of a held episode was claimed")
	}
	// A stop between claim and add: after a reopen the item is
	// interrupted, and still taken.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	cut, err := s.InterruptRSSAdding(2)
	if err != nil || len(cut) != 2 {
		t.Fatalf("interrupted %+v, %v; want 2", cut, err)
	}
	if claim("r", "f", "g1", "show", "S01E02") {
		t.Fatal("an interrupted item was claimed again")
	}
	seen, eps, err := s.RSSRuleState("r")
	if err != nil || seen[RSSSeenKey("f", "g1")].State != RSSInterrupted || !eps[RSSEpisodeKey("show", "S01E02")] {
		t.Fatalf("state %+v %v, %v", seen, eps, err)
	}

	// A failed add releases its episode for another release, and is
	// itself retried until the bound.
	if !claim("r", "f", "g3", "show", "S01E03") {
		t.Fatal("claim g3")
	}
	if err := s.FinishRSSItem("r", "f", "g3", "show", "S01E03", "", "fetch failed", 3); err != nil {
		t.Fatal(err)
	}
	if !claim("r", "f", "g4", "show", "S01E03") {
		t.Fatal("the episode of a failed add was not given back")
	}
	if err := s.FinishRSSItem("r", "f", "g4", "show", "S01E03", "abc", "", 4); err != nil {
		t.Fatal(err)
	}
	if claim("r", "f", "g3", "show", "S01E03") {
		t.Fatal("a failed item took an episode another release added")
	}
	for i := 1; i <= 3; i++ {
		if n, err := s.ClaimRSSItem("r", "f", "g5", "", "", 5, 3); err != nil || n != i {
			t.Fatalf("attempt %d of a failing item: %d, %v", i, n, err)
		}
		if err := s.FinishRSSItem("r", "f", "g5", "", "", "", "boom", 5); err != nil {
			t.Fatal(err)
		}
	}
	if claim("r", "f", "g5", "", "") {
		t.Fatal("a failing item was tried more than 3 times")
	}
	if seen, _, _ := s.RSSRuleState("r"); seen[RSSSeenKey("f", "g4")].State != RSSAdded || seen[RSSSeenKey("f", "g4")].TaskID != "abc" {
		t.Fatalf("g4: %+v", seen[RSSSeenKey("f", "g4")])
	}

	// Removing the feed forgets what was taken from it; removing the rule
	// forgets its episodes.
	if err := s.DeleteRSSFeed("f"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRSSFeed("f"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if seen, eps, _ := s.RSSRuleState("r"); len(seen) != 0 || len(eps) != 2 {
		t.Fatalf("after the feed's removal: %d seen, %d episodes", len(seen), len(eps))
	}
	if err := s.DeleteRSSRule("r"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRSSRule("r"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if seen, eps, _ := s.RSSRuleState("r"); len(seen) != 0 || len(eps) != 0 {
		t.Fatalf("after the rule's removal: %d seen, %d episodes", len(seen), len(eps))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A fetch stores the feed and its items together, and not for a feed
// removed meanwhile.
func TestRSSFetchRecords(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := RSSFeed{ID: "f", URL: "http://a.example/rss", IntervalS: 60}
	setTitle := func(f *RSSFeed) { f.Title = "T" }
	if err := s.PutRSSFetch("f", setTitle, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch of an unknown feed: %v", err)
	}
	if err := s.PutRSSFeed(f); err != nil {
		t.Fatal(err)
	}
	items := []RSSItem{{GUID: "a", Title: "A S01E01", Show: "a", Episode: "S01E01"}, {GUID: "b", Title: "B"}}
	if err := s.PutRSSFetch("f", setTitle, items); err != nil {
		t.Fatal(err)
	}
	got, err := s.RSSItems("f")
	if err != nil || len(got) != 2 || got[0] != items[0] {
		t.Fatalf("items %+v, %v", got, err)
	}
	feeds, err := s.RSSFeeds()
	if err != nil || len(feeds) != 1 || feeds[0].Title != "T" {
		t.Fatalf("feeds %+v, %v", feeds, err)
	}
	if err := s.UpdateRSSFeed("zz", setTitle); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of an unknown feed: %v", err)
	}
	// An update changes its fields only.
	if err := s.UpdateRSSFeed("f", func(f *RSSFeed) { f.IntervalS = 120 }); err != nil {
		t.Fatal(err)
	}
	if feeds, _ := s.RSSFeeds(); feeds[0].Title != "T" || feeds[0].IntervalS != 120 || feeds[0].URL != f.URL {
		t.Fatalf("after an update: %+v", feeds[0])
	}
}
