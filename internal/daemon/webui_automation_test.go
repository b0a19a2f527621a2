package daemon_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The settings pages of the automation parts — watch folders, RSS feeds
// and rules, webhooks, API keys — driven in Chromium, each asserted
// through the daemon's API.

func TestWebUISettingsWatch(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{WatchInterval: 100 * time.Millisecond})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	if _, err := c.SetCategory(ctx, api.Category{Name: "tv", SavePath: "tv"}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.Dirs.Download, "watched")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("watch")
	b.waitJS("the empty list", `document.getElementById('watch-body').textContent.includes('No folder is watched')`, 10*time.Second)

	// Watch a folder for category tv.
	b.typeInto("#watch-path", dir)
	b.waitJS("tv offered", `[...document.getElementById('watch-category').options].some((o) => o.value === 'tv')`, 5*time.Second)
	evalJS[bool](b, `(() => { const s = document.getElementById('watch-category'); s.value = 'tv'; s.dispatchEvent(new Event('change')); return true })()`)
	b.click("#watch-ok")
	row := `document.querySelector('#watch-body tr[data-path=` + jsString(dir) + `]')`
	b.waitJS("the folder listed", row+` !== null && `+row+`.textContent.includes('tv')`, 10*time.Second)
	ws, err := c.Watches(ctx)
	if err != nil || len(ws) != 1 || ws[0].Path != dir || ws[0].Category != "tv" {
		t.Fatalf("watches after the form: %+v, %v", ws, err)
	}

	// A .torrent dropped in it is added; the page's count follows.
	tr := enginetest.Generate(t, enginetest.Content{Name: "watched.bin", Size: 30_000, Seed: 171})
	tmp := filepath.Join(dir, ".part")
	if err := os.WriteFile(tmp, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "w.torrent")); err != nil {
		t.Fatal(err)
	}
	waitUntilAPI(t, "the watched file added in tv", 30*time.Second, func() bool {
		tk, err := c.GetTask(ctx, tr.InfoHash)
		return err == nil && tk.Category == "tv"
	})
	b.waitJS("the added count", row+` !== null && `+row+`.children[2].textContent === '1'`, 15*time.Second)

	// A folder outside the roots is refused with the daemon's reason.
	b.typeInto("#watch-path", "/proc")
	b.click("#watch-ok")
	b.waitJS("the error notice", `[...document.querySelectorAll('#toasts .toast.error')].some((t) => t.textContent.includes('Watch /proc failed') && t.textContent.includes('(error 103)'))`, 10*time.Second)

	// Stop watching (the button asks first).
	rm := `#watch-body tr[data-path="` + dir + `"] button`
	b.click(rm)
	b.waitJS("the confirmation", `document.querySelector('`+rm+`').textContent === 'Stop watching?'`, 5*time.Second)
	b.click(rm)
	b.waitJS("the folder gone", row+` === null`, 10*time.Second)
	if ws, err := c.Watches(ctx); err != nil || len(ws) != 0 {
		t.Errorf("watches after removing: %+v, %v", ws, err)
	}
	b.snapshot("settings-watch")
	b.checkConsole()
}

// rssFeed is an RSS 2.0 document of items (title, magnet link).
func rssFeed(items [][2]string) string {
	var sb strings.Builder
	sb.WriteString(`<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback TV</title><link>http://127.0.0.1/</link><description>test</description>`)
	for i, it := range items {
		fmt.Fprintf(&sb, `<item><title>%s</title><link>%s</link><guid>g-%d</guid><pubDate>Mon, 07 Dec 2026 0%d:00:00 GMT</pubDate></item>`, it[0], strings.ReplaceAll(it[1], "&", "&amp;"), i, i)
	}
	sb.WriteString(`</channel></rss>`)
	return sb.String()
}

func TestWebUISettingsRSS(t *testing.T) {
	chromiumPath(t)
	hashes := []string{strings.Repeat("a1", 20), strings.Repeat("b2", 20), strings.Repeat("c3", 20)}
	feed := rssFeed([][2]string{
		{"Show A S01E01 1080p", "magnet:?xt=urn:btih:" + hashes[0] + "&dn=a1"},
		{"Show A S01E02 720p", "magnet:?xt=urn:btih:" + hashes[1] + "&dn=a2"},
		{"Other Thing 2026", "magnet:?xt=urn:btih:" + hashes[2] + "&dn=o"},
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		io.WriteString(w, feed)
	}))
	t.Cleanup(srv.Close)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("rss")
	b.waitJS("the empty lists", `document.getElementById('feed-body').textContent.includes('No feeds yet') && document.getElementById('rule-body').textContent.includes('No rules yet')`, 10*time.Second)

	// Add the feed; its first fetch (in the background) brings 3 items.
	b.typeInto("#feed-url", srv.URL+"/feed.xml")
	b.click("#feed-ok")
	feedRow := `document.querySelector('#feed-body tr[data-id]')`
	b.waitJS("the feed fetched", feedRow+` !== null && `+feedRow+`.textContent.includes('Loopback TV') && `+feedRow+`.children[3].textContent === '3'`, 20*time.Second)
	feeds, err := c.Feeds(ctx)
	if err != nil || len(feeds) != 1 || feeds[0].URL != srv.URL+"/feed.xml" || feeds[0].IntervalS != 1800 {
		t.Fatalf("rss.list after the form: %+v, %v", feeds, err)
	}
	feedID := feeds[0].FeedID
	b.click(`#feed-body tr[data-id="` + feedID + `"] button[aria-label^="Items"]`)
	b.waitJS("the feed's items", `!document.getElementById('feed-items').hidden && document.querySelectorAll('#feed-items-body tr').length === 3 && document.getElementById('feed-items-body').textContent.includes('S01E02')`, 10*time.Second)

	// A rule typed, not saved: the preview shows what it matches, live.
	b.typeInto("#rule-name", "show-a")
	b.typeInto("#rule-include", "show a")
	preview := `[...document.querySelectorAll('#rule-preview-body tr')].map((r) => r.children[0].textContent).join('|')`
	b.waitJS("two matches", preview+` === 'Show A S01E01 1080p|Show A S01E02 720p'`, 10*time.Second)
	b.typeInto("#rule-exclude", "720p")
	b.waitJS("one match", preview+` === 'Show A S01E01 1080p'`, 10*time.Second)
	// A bad regular expression: the daemon's reason, in place.
	b.typeInto("#rule-include", "show (a")
	b.waitJS("the preview's error", `document.getElementById('rule-preview-status').classList.contains('error') && document.getElementById('rule-preview-status').textContent.includes('(error 103)')`, 10*time.Second)
	b.typeInto("#rule-include", "show a")
	b.waitJS("one match again", preview+` === 'Show A S01E01 1080p'`, 10*time.Second)
	if rules, err := c.Rules(ctx); err != nil || len(rules) != 0 {
		t.Fatalf("rss.rule.list before saving: %+v, %v; the preview must not save", rules, err)
	}

	// Saved (paused), then the feed refreshed: the rule adds its item; the
	// preview marks it added.
	b.click("#rule-paused")
	b.click("#rule-ok")
	b.waitJS("the rule listed", `document.querySelector('#rule-body tr[data-name="show-a"]') !== null`, 10*time.Second)
	if rules, err := c.Rules(ctx); err != nil || len(rules) != 1 || rules[0].Include != "show a" || rules[0].Exclude != "720p" || !rules[0].Paused || !rules[0].Enabled {
		t.Fatalf("rss.rule.list after saving: %+v, %v", rules, err)
	}
	b.click(`#feed-body tr[data-id="` + feedID + `"] button[aria-label^="Refresh"]`)
	waitUntilAPI(t, "the rule's item added, paused", 30*time.Second, func() bool {
		tk, err := c.GetTask(ctx, hashes[0])
		return err == nil && tk.State == api.StatePaused
	})
	b.waitJS("the preview marks it added", `[...document.querySelectorAll('#rule-preview-body tr')].some((r) => r.children[0].textContent === 'Show A S01E01 1080p' && r.children[3].textContent === 'yes')`, 15*time.Second)
	if tasks := listTasks(t, c); len(tasks) != 1 {
		t.Errorf("tasks after the refresh: %d, want only the rule's item", len(tasks))
	}

	// Edit the rule: include the other show too.
	b.click(`#rule-body tr[data-name="show-a"] button[aria-label^="Edit"]`)
	b.waitJS("the form holds the rule", `document.getElementById('rule-name').readOnly && document.getElementById('rule-exclude').value === '720p' && document.getElementById('rule-paused').checked`, 5*time.Second)
	b.typeInto("#rule-include", "show a|other")
	b.waitJS("two matches", preview+` === 'Show A S01E01 1080p|Other Thing 2026'`, 10*time.Second)
	b.click("#rule-ok")
	waitUntilAPI(t, "the rule edited", 10*time.Second, func() bool {
		r, err := c.Rules(ctx)
		return err == nil && len(r) == 1 && r[0].Include == "show a|other"
	})
	b.snapshot("settings-rss")

	// Remove the rule, then the feed (each asks first).
	rm := `#rule-body tr[data-name="show-a"] button[aria-label^="Remove"]`
	clickConfirmed(t, b, rm, `document.querySelector('#rule-body tr[data-name="show-a"]') === null`)
	rm = `#feed-body tr[data-id="` + feedID + `"] button[aria-label^="Remove"]`
	clickConfirmed(t, b, rm, feedRow+` === null && document.getElementById('feed-items').hidden`)
	if feeds, err := c.Feeds(ctx); err != nil || len(feeds) != 0 {
		t.Errorf("rss.list after removing: %+v, %v", feeds, err)
	}
	if rules, err := c.Rules(ctx); err != nil || len(rules) != 0 {
		t.Errorf("rss.rule.list after removing: %+v, %v", rules, err)
	}
	b.checkConsole()
}

// uiHookReceiver records the webhook POSTs it receives.
type uiHookReceiver struct {
	mu    sync.Mutex
	posts []uiHookPost
}

type uiHookPost struct {
	event, timestamp, signature string
	body                        []byte
}

func (h *uiHookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.posts = append(h.posts, uiHookPost{r.Header.Get(api.HeaderWebhookEvent), r.Header.Get(api.HeaderWebhookTimestamp), r.Header.Get(api.HeaderWebhookSignature), body})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *uiHookReceiver) received() []uiHookPost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]uiHookPost(nil), h.posts...)
}

func TestWebUISettingsWebhooks(t *testing.T) {
	chromiumPath(t)
	recv := &uiHookReceiver{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("webhooks")
	b.waitJS("the empty list and the events offered", `document.getElementById('hook-body').textContent.includes('No webhooks yet') && document.querySelector('#hook-events input[value="task.added"]') !== null && document.querySelector('#hook-events input[value="task.progress"]') === null`, 10*time.Second)

	// Add one for task.added: its secret is shown once.
	b.typeInto("#hook-url", srv.URL+"/hook")
	b.click(`#hook-events input[value="task.added"]`)
	b.click("#hook-ok")
	b.waitJS("the secret shown", `!document.getElementById('hook-secret').hidden && /^[0-9a-f]{64}$/.test(document.getElementById('hook-secret-value').textContent)`, 10*time.Second)
	secret := evalJS[string](b, `document.getElementById('hook-secret-value').textContent`)
	hooks, err := c.Webhooks(ctx)
	if err != nil || len(hooks) != 1 || hooks[0].URL != srv.URL+"/hook" || strings.Join(hooks[0].Events, ",") != api.EventTaskAdded {
		t.Fatalf("webhooks after the form: %+v, %v", hooks, err)
	}
	id := hooks[0].WebhookID
	row := `document.querySelector('#hook-body tr[data-id="` + id + `"]')`
	b.waitJS("the webhook listed", row+` !== null`, 10*time.Second)
	b.click(`#hook-body tr[data-id="` + id + `"] button[aria-label^="Deliveries"]`)
	b.waitJS("no deliveries yet", `!document.getElementById('hook-deliveries').hidden && document.getElementById('hook-deliveries-body').textContent.includes('No deliveries yet')`, 10*time.Second)

	// An event: the deliveries table shows it delivered, and the receiver
	// got it signed with the secret the page showed.
	tr := enginetest.Generate(t, enginetest.Content{Name: "hooked.bin", Size: 20_000, Seed: 172})
	added := addTorrent(t, c, tr)
	b.waitJS("the delivery listed", `[...document.querySelectorAll('#hook-deliveries-body tr[data-state="delivered"]')].some((r) => r.textContent.includes('task.added') && r.children[2].textContent === '204' && r.children[3].textContent === '1')`, 20*time.Second)
	dels, err := c.WebhookDeliveries(ctx, id)
	if err != nil || len(dels) != 1 || dels[0].Event != api.EventTaskAdded || dels[0].State != api.DeliveryDelivered {
		t.Errorf("deliveries: %+v, %v", dels, err)
	}
	posts := recv.received()
	if len(posts) != 1 || !strings.Contains(string(posts[0].body), added.TaskID) {
		t.Fatalf("the receiver got %d posts: %+v", len(posts), posts)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(posts[0].timestamp + "."))
	mac.Write(posts[0].body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); posts[0].signature != want {
		t.Errorf("signature %q; with the secret the page showed it would be %q", posts[0].signature, want)
	}
	b.waitJS("the list's last status", row+`.children[3].textContent === '204'`, 10*time.Second)
	b.snapshot("settings-webhooks")

	// The secret is gone once dismissed, and never listed.
	b.click("#hook-secret-done")
	if got := evalJS[string](b, `document.getElementById('hook-secret').hidden + ' ' + document.getElementById('hook-secret-value').textContent + document.getElementById('sp-webhooks').textContent.includes(`+jsString(secret)+`)`); got != "true false" {
		t.Errorf("after Done, the secret box: %q; want hidden, empty, and the secret nowhere on the page", got)
	}

	// Remove it (the button asks first).
	rm := `#hook-body tr[data-id="` + id + `"] button[aria-label^="Remove"]`
	b.click(rm)
	b.click(rm)
	b.waitJS("the webhook gone", row+` === null && document.getElementById('hook-deliveries').hidden`, 10*time.Second)
	if hooks, err := c.Webhooks(ctx); err != nil || len(hooks) != 0 {
		t.Errorf("webhooks after removing: %+v, %v", hooks, err)
	}
	b.checkConsole()
}

func TestWebUISettingsKeys(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("keys")
	b.waitJS("the empty list", `document.getElementById('key-body').textContent.includes('No API keys yet')`, 10*time.Second)

	// Create a control key: shown once, and it works as a credential of
	// that scope.
	b.typeInto("#key-name", "sonarr")
	b.click("#key-ok")
	b.waitJS("the key shown", `!document.getElementById('key-once').hidden && document.getElementById('key-value').textContent.length >= 20`, 10*time.Second)
	key := evalJS[string](b, `document.getElementById('key-value').textContent`)
	keys, err := c.ListKeys(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "sonarr" || keys[0].Scope != api.ScopeControl {
		t.Fatalf("keys after the form: %+v, %v", keys, err)
	}
	kc, err := client.Dial(ctx, d.URL, key)
	if err != nil {
		t.Fatalf("dial with the key the page showed: %v", err)
	}
	if info, err := kc.ServerInfo(ctx); err != nil || info.Scope != "control" {
		t.Errorf("server.info with the key: %+v, %v; want scope control", info, err)
	}
	kc.Close()
	row := `document.querySelector('#key-body tr[data-id="` + keys[0].KeyID + `"]')`
	b.waitJS("the key listed", row+` !== null && `+row+`.textContent.includes('control') && !`+row+`.textContent.includes(`+jsString(key)+`)`, 10*time.Second)

	// Copy puts it on the clipboard (or selects it): either way the page
	// says so, and nothing fails.
	b.click("#key-copy")
	b.waitJS("the copy notice", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes('Copied.') || t.textContent.includes('Copy failed'))`, 5*time.Second)
	// Closing the dialog forgets it.
	b.click("#settings-close")
	b.openSettings("keys")
	if got := evalJS[string](b, `document.getElementById('key-once').hidden + ' ' + document.getElementById('key-value').textContent`); got != "true " {
		t.Errorf("the key after closing the dialog: %q; want hidden and empty", got)
	}

	// A read key: the page logged in with it says the settings need an
	// admin key and offers no admin action.
	read, err := c.CreateKey(ctx, "viewer", api.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	rb := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	rb.open("/?token=" + read.Key)
	rb.waitLoggedIn()
	rb.waitJS("no task action for a read key", `document.getElementById('btn-add').disabled`, 10*time.Second)
	rb.openSettings("keys")
	rb.waitJS("the scope note", `!document.getElementById('scope-note').hidden && document.getElementById('scope-note').textContent.includes('“read”') && document.getElementById('sp-keys').querySelector('.unavailable').textContent.includes('admin key') && document.querySelector('#sp-keys .page-body').hidden`, 10*time.Second)
	rb.openSettings("general")
	if !evalJS[bool](rb, `document.getElementById('settings-ok').disabled && document.getElementById('s-dl').disabled`) {
		t.Error("the general settings are editable with a read key")
	}
	rb.openSettings("categories")
	rb.waitJS("categories read-only", `document.getElementById('cat-ok').disabled`, 5*time.Second)
	if sent, _ := rb.counts(); sent[api.MethodKeyList] != 0 || sent[api.MethodSessionSet] != 0 {
		t.Errorf("the read key's page called key.list %d and session.set %d times; want none", sent[api.MethodKeyList], sent[api.MethodSessionSet])
	}
	rb.checkConsole()

	// Revoke the control key (the button asks first).
	rm := `#key-body tr[data-id="` + keys[0].KeyID + `"] button`
	b.click(rm)
	b.waitJS("the confirmation", `document.querySelector('`+rm+`').textContent === 'Revoke?'`, 5*time.Second)
	b.click(rm)
	b.waitJS("the key gone", row+` === null`, 10*time.Second)
	if keys, err := c.ListKeys(ctx); err != nil || len(keys) != 1 || keys[0].Name != "viewer" {
		t.Errorf("keys after revoking: %+v, %v; want only viewer", keys, err)
	}
	if kc, err := client.Dial(ctx, d.URL, key); err == nil {
		kc.Close()
		t.Error("the revoked key still connects")
	}
	b.snapshot("settings-keys")
	b.checkConsole()
}

// clickConfirmed clicks a button that asks first (confirmClick) until done
// holds: once to arm it, once to confirm. The page may redraw its table
// between the two clicks (a feed's row after a rule's removal), and a
// redrawn button is no longer armed (seen in CI), so each click follows
// the button's state as it is then.
func clickConfirmed(t *testing.T, b *uiBrowser, sel, done string) {
	t.Helper()
	state := `(() => { if (` + done + `) return 'done'; const e = document.querySelector(` + jsString(sel) + `); return e === null ? 'none' : e.dataset.armed === '1' ? 'armed' : 'ready'; })()`
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		switch evalJS[string](b, state) {
		case "done":
			return
		case "ready", "armed":
			b.click(sel)
		}
		time.Sleep(150 * time.Millisecond)
	}
	t.Fatalf("%s: %s did not hold within 20s", sel, done)
}
