package daemon_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// feedServer serves documents the test sets, on loopback.
type feedServer struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string]feedDoc
}

type feedDoc struct {
	status int
	body   []byte
}

func newFeedServer(t *testing.T) *feedServer {
	fs := &feedServer{docs: map[string]feedDoc{}}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		d, ok := fs.docs[r.URL.Path]
		fs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if d.status != 0 {
			w.WriteHeader(d.status)
		}
		w.Write(d.body)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) set(path string, status int, body string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.docs[path] = feedDoc{status: status, body: []byte(body)}
}

// hashOf is a made-up info-hash, named for the test's reading.
func hashOf(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func magnetOf(hash string) string { return "magnet:?xt=urn:btih:" + hash }

// rssDoc is an RSS 2.0 document of items {title, link}; a magnet link is
// put in an enclosure-less <link>, an http link in a torrent enclosure.
func rssDoc(items ...[2]string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Test RSS</title>`)
	for i, it := range items {
		link := strings.ReplaceAll(it[1], "&", "&amp;")
		if strings.HasPrefix(it[1], "magnet:") {
			fmt.Fprintf(&b, "<item><title>%s</title><link>%s</link><guid>g%d-%s</guid></item>", it[0], link, i, hashOf(it[0]))
		} else {
			fmt.Fprintf(&b, `<item><title>%s</title><link>https://tracker.example/page/%d</link><enclosure url="%s" type="application/x-bittorrent"/><guid>g%d-%s</guid></item>`, it[0], i, link, i, hashOf(it[0]))
		}
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

func call[R any](t *testing.T, c *client.Client, method string, params any) R {
	t.Helper()
	var r R
	if err := c.Call(ctxT(t, 60*time.Second), method, params, &r); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return r
}

// callCode calls method and wants it refused with code.
func callCode(t *testing.T, c *client.Client, method string, params any, code api.Code) {
	t.Helper()
	var ae *api.Error
	if err := c.Call(ctxT(t, 60*time.Second), method, params, nil); !asCode(err, &ae, code) {
		t.Fatalf("%s %+v: %v, want code %d", method, params, err, code)
	}
}

func taskIDs(t *testing.T, c *client.Client) []string {
	var ids []string
	for _, tk := range listTasks(t, c) {
		ids = append(ids, tk.TaskID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// TestRSSRules drives feeds (RSS 2.0 and Atom, from a loopback server)
// and a rule with include, exclude, category and paused: the items it
// matches become tasks (magnets by their info-hash, a .torrent enclosure
// through the daemon's fetch), the others do not; preview by name and by
// object; and the errors of bad params.
func TestRSSRules(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	fs := newFeedServer(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "special.bin", Size: 70_001, Seed: 17})
	fs.set("/files/special.torrent", 0, string(tr.MetaInfo))
	h1080, h720, hOther, hAtom := hashOf("1080"), hashOf("720"), hashOf("other"), hashOf("atom")
	fs.set("/rss.xml", 0, rssDoc(
		[2]string{"Good Show S01E01 1080p", magnetOf(h1080) + "&dn=good"},
		[2]string{"Good Show S01E01 720p", magnetOf(h720)},
		[2]string{"Other Thing", magnetOf(hOther)},
		[2]string{"GOOD show special", fs.URL + "/files/special.torrent"},
	))
	fs.set("/atom.xml", 0, `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Test Atom</title>
<entry><title>Good Show S01E03</title><id>urn:atom:1</id><link href="https://tracker.example/e/1"/><link rel="enclosure" href="`+magnetOf(hAtom)+`"/></entry>
<entry><title>Good Show S01E04 720p</title><id>urn:atom:2</id><link href="`+magnetOf(hashOf("atom720"))+`"/></entry>
</feed>`)

	// Bad params first.
	callCode(t, c, api.MethodRSSAdd, api.RSSAddParams{URL: "ftp://127.0.0.1/x"}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSAdd, api.RSSAddParams{URL: fs.URL + "/rss.xml", IntervalS: 10}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: "nope"}, api.CodeNoSuchFeed)
	callCode(t, c, api.MethodRSSRemove, api.RSSFeedIDParams{FeedID: "nope"}, api.CodeNoSuchFeed)
	callCode(t, c, api.MethodRSSItems, api.RSSFeedIDParams{FeedID: "nope"}, api.CodeNoSuchFeed)
	callCode(t, c, api.MethodRSSRuleRemove, api.RSSRuleNameParams{Name: "nope"}, api.CodeNoSuchRule)
	callCode(t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: json.RawMessage(`"nope"`)}, api.CodeNoSuchRule)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "r", Include: "good("}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "r", Include: "good", Exclude: "[x"}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "r", Include: ""}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "", Include: "x"}, api.CodeInvalidParams)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "r", Include: "x", Feeds: []string{"nope"}}, api.CodeNoSuchFeed)
	callCode(t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "r", Include: "x", Category: "nope"}, api.CodeNoSuchCategory)
	if rules := call[api.RSSRuleListResult](t, c, api.MethodRSSRuleList, struct{}{}); len(rules.Rules) != 0 {
		t.Fatalf("refused rules were saved: %+v", rules)
	}

	if _, err := c.SetCategory(ctxT(t, 30*time.Second), api.Category{Name: "tv"}); err != nil {
		t.Fatal(err)
	}
	rule := call[api.RSSRule](t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{
		Name: "good", Include: `good\s+show`, Exclude: "720p", Category: "tv", Paused: true,
	})
	if !rule.Enabled || rule.Category != "tv" || !rule.Paused || rule.Feeds == nil {
		t.Fatalf("rule %+v", rule)
	}
	rssFeed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: fs.URL + "/rss.xml", IntervalS: 3600})
	atomFeed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: fs.URL + "/atom.xml"})
	if rssFeed.IntervalS != 3600 || atomFeed.IntervalS != api.RSSDefaultInterval || rssFeed.FeedID == atomFeed.FeedID {
		t.Fatalf("feeds %+v %+v", rssFeed, atomFeed)
	}
	// The first fetch runs in the background; refresh fetches again and
	// answers once the rules are applied.
	rf := call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: rssFeed.FeedID})
	if rf.Title != "Test RSS" || rf.Items != 4 || rf.LastError != "" || rf.LastFetchAt == 0 {
		t.Fatalf("refreshed rss feed %+v", rf)
	}
	af := call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: atomFeed.FeedID})
	if af.Title != "Test Atom" || af.Items != 2 {
		t.Fatalf("refreshed atom feed %+v", af)
	}
	want := sorted(h1080, tr.InfoHash, hAtom)
	if got := taskIDs(t, c); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want %v", got, want)
	}
	for _, tk := range listTasks(t, c) {
		if tk.Category != "tv" || tk.State != api.StatePaused {
			t.Errorf("task %s: category %q state %s, want tv, paused", tk.TaskID, tk.Category, tk.State)
		}
	}
	added := map[string]api.RSSItemAddedData{}
	for len(added) < 3 {
		ev := waitEvent(t, c, api.EventRSSItemAdded, 30*time.Second, nil)
		a := decode[api.RSSItemAddedData](t, ev.Data)
		added[a.TaskID] = a
	}
	if a := added[h1080]; a.Rule != "good" || a.FeedID != rssFeed.FeedID || a.Episode != "S01E01" || a.Title != "Good Show S01E01 1080p" || !strings.HasPrefix(a.Link, "magnet:") {
		t.Errorf("rss.item_added %+v", a)
	}
	if a := added[tr.InfoHash]; a.Link != fs.URL+"/files/special.torrent" {
		t.Errorf("rss.item_added %+v", a)
	}

	items := call[api.RSSItemsResult](t, c, api.MethodRSSItems, api.RSSFeedIDParams{FeedID: rssFeed.FeedID})
	if len(items.Items) != 4 || items.Items[0].Episode != "S01E01" || items.Items[2].Episode != "" || items.Items[0].FeedID != rssFeed.FeedID {
		t.Fatalf("items %+v", items)
	}
	list := call[api.RSSListResult](t, c, api.MethodRSSList, struct{}{})
	if len(list.Feeds) != 2 || list.Feeds[0].FeedID != rssFeed.FeedID {
		t.Fatalf("list %+v", list)
	}

	// Preview by name: what the rule matched, all added.
	pv := call[api.RSSPreviewResult](t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: json.RawMessage(`"good"`)})
	var titles []string
	for _, it := range pv.Items {
		titles = append(titles, it.Title)
		if !it.Added {
			t.Errorf("preview: %q not added", it.Title)
		}
	}
	if want := []string{"Good Show S01E01 1080p", "GOOD show special", "Good Show S01E03"}; !slices.Equal(titles, want) {
		t.Errorf("preview titles %q, want %q", titles, want)
	}
	// By object: an unsaved rule, limited to the Atom feed.
	obj, _ := json.Marshal(api.RSSRuleSetParams{Include: "720p", Feeds: []string{atomFeed.FeedID}})
	pv = call[api.RSSPreviewResult](t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: obj})
	if len(pv.Items) != 1 || pv.Items[0].Title != "Good Show S01E04 720p" || pv.Items[0].Added || pv.Items[0].FeedID != atomFeed.FeedID {
		t.Errorf("preview of an object: %+v", pv.Items)
	}
	callCode(t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: json.RawMessage(`{"include":"("}`)}, api.CodeInvalidParams)
	if tasks := taskIDs(t, c); len(tasks) != 3 {
		t.Fatalf("preview added tasks: %v", tasks)
	}

	// A disabled rule adds nothing; removing it and the feed works.
	call[api.RSSRule](t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{Name: "other", Include: "other", Enabled: new(bool)})
	call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: rssFeed.FeedID})
	if tasks := taskIDs(t, c); slices.Contains(tasks, hOther) {
		t.Errorf("a disabled rule added a task")
	}
	call[struct{}](t, c, api.MethodRSSRuleRemove, api.RSSRuleNameParams{Name: "other"})
	call[struct{}](t, c, api.MethodRSSRemove, api.RSSFeedIDParams{FeedID: atomFeed.FeedID})
	callCode(t, c, api.MethodRSSItems, api.RSSFeedIDParams{FeedID: atomFeed.FeedID}, api.CodeNoSuchFeed)
	if rules := call[api.RSSRuleListResult](t, c, api.MethodRSSRuleList, struct{}{}); len(rules.Rules) != 1 || rules.Rules[0].Name != "good" {
		t.Errorf("rules %+v", rules)
	}
}

// TestRSSDedupeAndRestart: a dedupe_episodes rule takes one release of an
// episode (SxxEyy or dated) whether the others come in the same fetch or
// a later one; after a restart on the same data dir nothing is added
// again, not even an item whose task the user removed.
func TestRSSDedupeAndRestart(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs, AllowPrivateURLs: true})
	c := d.Client(t)
	fs := newFeedServer(t)
	a1, a2, a3, a4 := hashOf("a1"), hashOf("a2"), hashOf("a3"), hashOf("a4")
	d1, d2 := hashOf("d1"), hashOf("d2")
	first := [][2]string{
		{"Show A S01E02 1080p", magnetOf(a1)},
		{"Show.A.S01E02.720p", magnetOf(a2)},
		{"Daily Thing 2026-12-07 Guest", magnetOf(d1)},
	}
	fs.set("/feed", 0, rssDoc(first...))
	feed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: fs.URL + "/feed"})
	call[api.RSSRule](t, c, api.MethodRSSRuleSet, api.RSSRuleSetParams{
		Name: "shows", Include: `show\Wa|daily\Wthing`, DedupeEpisodes: true, Feeds: []string{feed.FeedID},
	})
	call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID})
	if got, want := taskIDs(t, c), sorted(a1, d1); !slices.Equal(got, want) {
		t.Fatalf("after the first fetch: tasks %v, want %v", got, want)
	}
	// Later: a third release of S01E02, a new episode, another release
	// of the dated one.
	second := append(slices.Clone(first),
		[2]string{"[Grp] Show A - S01E02 PROPER", magnetOf(a3)},
		[2]string{"Show A S01E03", magnetOf(a4)},
		[2]string{"Daily.Thing.2026.12.07.REPACK", magnetOf(d2)},
	)
	fs.set("/feed", 0, rssDoc(second...))
	call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID})
	if got, want := taskIDs(t, c), sorted(a1, d1, a4); !slices.Equal(got, want) {
		t.Fatalf("after the second fetch: tasks %v, want %v", got, want)
	}
	pv := call[api.RSSPreviewResult](t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: json.RawMessage(`"shows"`)})
	if len(pv.Items) != 6 {
		t.Fatalf("preview: %+v", pv.Items)
	}
	for _, it := range pv.Items {
		if !it.Added {
			t.Errorf("preview: %q (%s) not added, though its episode is held", it.Title, it.Episode)
		}
	}
	// The user removes a task the rule added: it must stay removed.
	if err := c.RemoveTask(ctxT(t, 30*time.Second), a1, true); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)

	d = daemontest.Start(t, daemontest.Options{Dirs: dirs, AllowPrivateURLs: true})
	c = d.Client(t)
	list := call[api.RSSListResult](t, c, api.MethodRSSList, struct{}{})
	if len(list.Feeds) != 1 || list.Feeds[0].FeedID != feed.FeedID || list.Feeds[0].Items != 6 {
		t.Fatalf("feeds after restart %+v", list)
	}
	call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID})
	if got, want := taskIDs(t, c), sorted(d1, a4); !slices.Equal(got, want) {
		t.Fatalf("after a restart and a fetch: tasks %v, want %v", got, want)
	}
	pv = call[api.RSSPreviewResult](t, c, api.MethodRSSPreview, api.RSSPreviewParams{Rule: json.RawMessage(`"shows"`)})
	if len(pv.Items) != 6 || !pv.Items[0].Added {
		t.Errorf("preview after restart: %+v", pv.Items)
	}
}

// alertsNaming counts the engine.alert events naming url until the
// category.changed event that marker's category.set publishes: events
// come in order, so none is missed or waited for in vain.
func alertsNaming(t *testing.T, c *client.Client, url, marker string) (n int, last string) {
	t.Helper()
	if _, err := c.SetCategory(ctxT(t, 30*time.Second), api.Category{Name: marker}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		var ev api.Event
		select {
		case e, ok := <-c.Events():
			if !ok {
				t.Fatalf("connection ended: %v", c.Err())
			}
			ev = e
		case <-deadline:
			t.Fatalf("no category.changed for %q within 30s", marker)
		}
		switch ev.Name {
		case api.EventEngineAlert:
			a := decode[api.EngineAlertData](t, ev.Data)
			if strings.Contains(a.Message, url) {
				n++
				last = a.Message
				if a.Level != api.LevelWarning {
					t.Errorf("alert level %q", a.Level)
				}
			}
		case api.EventCategoryChanged:
			if strings.Contains(string(ev.Data), `"`+marker+`"`) {
				return n, last
			}
		}
	}
}

// TestRSSFeedFailures: a feed that answers 404 or garbage fails its
// fetch with 204, sets last_error and sends one engine.alert per streak
// of failures; a fetch that works again clears last_error.
func TestRSSFeedFailures(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	fs := newFeedServer(t)
	url := fs.URL + "/flaky"
	fs.set("/flaky", http.StatusNotFound, "gone")
	feed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: url})
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}, api.CodeFetchFailed)
	fs.set("/flaky", 0, "<<<this is not xml")
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}, api.CodeFetchFailed)
	list := call[api.RSSListResult](t, c, api.MethodRSSList, struct{}{})
	if len(list.Feeds) != 1 || !strings.Contains(list.Feeds[0].LastError, "parse") {
		t.Fatalf("feeds %+v, want last_error about parsing", list.Feeds)
	}
	if n, msg := alertsNaming(t, c, url, "marker1"); n != 1 {
		t.Fatalf("%d alerts naming %s during one streak of failures, want 1 (last %q)", n, url, msg)
	}
	// Recovery clears last_error; the next failure is a new streak.
	fs.set("/flaky", 0, rssDoc([2]string{"x", magnetOf(hashOf("x"))}))
	if f := call[api.RSSFeed](t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}); f.LastError != "" || f.Items != 1 {
		t.Fatalf("recovered feed %+v", f)
	}
	fs.set("/flaky", http.StatusInternalServerError, "")
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}, api.CodeFetchFailed)
	if n, msg := alertsNaming(t, c, url, "marker2"); n != 1 || !strings.Contains(msg, "500") {
		t.Fatalf("%d alerts for the second streak (last %q), want 1 naming the status", n, msg)
	}
	// The items of the last good fetch are kept.
	if items := call[api.RSSItemsResult](t, c, api.MethodRSSItems, api.RSSFeedIDParams{FeedID: feed.FeedID}); len(items.Items) != 1 {
		t.Errorf("items %+v", items)
	}
}

// TestRSSRefusesPrivate: without --allow-private-urls a feed on loopback
// is refused at its fetch (SSRF), with 204 and an alert naming it.
func TestRSSRefusesPrivate(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	fs := newFeedServer(t)
	fs.set("/feed", 0, rssDoc([2]string{"x", magnetOf(hashOf("x"))}))
	url := fs.URL + "/feed"
	feed := call[api.RSSFeed](t, c, api.MethodRSSAdd, api.RSSAddParams{URL: url})
	callCode(t, c, api.MethodRSSRefresh, api.RSSFeedIDParams{FeedID: feed.FeedID}, api.CodeFetchFailed)
	if n, msg := alertsNaming(t, c, url, "marker"); n != 1 || !strings.Contains(msg, "not allowed") {
		t.Fatalf("%d alerts (last %q), want 1 saying the address is not allowed", n, msg)
	}
	list := call[api.RSSListResult](t, c, api.MethodRSSList, struct{}{})
	if len(list.Feeds) != 1 || list.Feeds[0].LastError == "" || list.Feeds[0].Items != 0 {
		t.Fatalf("feeds %+v", list.Feeds)
	}
}

// TestRSSFirstFetchAndInterruptedAdd: a feed is fetched as soon as it is
// added (no rss.refresh), and the rules apply; an item a stop caught
// between its claim and its add (planted in the store while the daemon is
// down) is reported at the next start and never added, while the other
// items are.
func TestRSSFirstFetchAndInterruptedAdd(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs, AllowPrivateURLs: true})
	c := d.Client(t)
	fs := newFeedServer(t)
	h1, h2, h3 := hashOf("i1"), hashOf("i2"), hashOf("i3")
	items := [][2]string{{"Item one", magnetOf(h1)}}
	fs.set("/feed", 0, rssDoc(items...))
	// Through the client's own methods.
	if _, err := c.SetRule(ctxT(t, 30*time.Second), api.RSSRuleSetParams{Name: "items", Include: "^item"}); err != nil {
		t.Fatal(err)
	}
	feed, err := c.AddFeed(ctxT(t, 30*time.Second), fs.URL+"/feed", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c, api.EventRSSItemAdded, 60*time.Second, nil)
	if a := decode[api.RSSItemAddedData](t, ev.Data); a.TaskID != h1 || a.FeedID != feed.FeedID {
		t.Fatalf("rss.item_added %+v", a)
	}
	d.Stop(t)

	// A crash after the claim of "Item two", before its task.add.
	items = append(items, [2]string{"Item two", magnetOf(h2)}, [2]string{"Item three", magnetOf(h3)})
	fs.set("/feed", 0, rssDoc(items...))
	guid2 := "g1-" + hashOf("Item two")
	s, err := store.Open(dirs.Data)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ClaimRSSItem("items", feed.FeedID, guid2, "", "", time.Now().Unix(), 3); err != nil || n != 1 {
		t.Fatalf("plant a claim: %v, %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	d = daemontest.Start(t, daemontest.Options{Dirs: dirs, AllowPrivateURLs: true})
	c = d.Client(t)
	if _, err := c.Replay(ctxT(t, 30*time.Second), ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		a := decode[api.EngineAlertData](t, raw)
		return strings.Contains(a.Message, guid2) && strings.Contains(a.Message, "not added again")
	})
	if _, err := c.RefreshFeed(ctxT(t, 60*time.Second), feed.FeedID); err != nil {
		t.Fatal(err)
	}
	if got, want := taskIDs(t, c), sorted(h1, h3); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want %v (never the interrupted item's)", got, want)
	}
	pv, err := c.PreviewRule(ctxT(t, 30*time.Second), "items")
	if err != nil || len(pv) != 3 || !pv[0].Added || !pv[1].Added || !pv[2].Added {
		t.Fatalf("preview %+v, %v: want every item taken", pv, err)
	}
	pv, err = c.PreviewUnsavedRule(ctxT(t, 30*time.Second), api.RSSRuleSetParams{Include: "two"})
	if err != nil || len(pv) != 1 || pv[0].GUID != guid2 || pv[0].Added {
		t.Fatalf("preview of an unsaved rule %+v, %v", pv, err)
	}
	feeds, err := c.Feeds(ctxT(t, 30*time.Second))
	if err != nil || len(feeds) != 1 || feeds[0].Items != 3 {
		t.Fatalf("feeds %+v, %v", feeds, err)
	}
	if items, err := c.FeedItems(ctxT(t, 30*time.Second), feed.FeedID); err != nil || len(items) != 3 {
		t.Fatalf("items %+v, %v", items, err)
	}
	if rules, err := c.Rules(ctxT(t, 30*time.Second)); err != nil || len(rules) != 1 {
		t.Fatalf("rules %+v, %v", rules, err)
	}
	if err := c.RemoveRule(ctxT(t, 30*time.Second), "items"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveFeed(ctxT(t, 30*time.Second), feed.FeedID); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if _, err := c.RefreshFeed(ctxT(t, 30*time.Second), feed.FeedID); !asCode(err, &ae, api.CodeNoSuchFeed) {
		t.Fatalf("refresh of a removed feed: %v", err)
	}
}
