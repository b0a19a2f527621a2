package daemon_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// The web UI's settings pages (categories, watch folders, RSS, webhooks,
// API keys) and its bulk actions, driven in headless Chromium like a user
// would, each asserted through the daemon's API.

// openSettings opens the Settings dialog on a page (the tab's data-page).
func (b *uiBrowser) openSettings(page string) {
	b.t.Helper()
	if !evalJS[bool](b, `document.getElementById('dlg-settings').open`) {
		b.click("#btn-settings")
		b.waitJS("the settings dialog", `document.getElementById('dlg-settings').open`, 10*time.Second)
	}
	b.click("#st-" + page)
	b.waitJS("the "+page+" page", `!document.getElementById('sp-`+page+`').hidden`, 5*time.Second)
}

// typeInto replaces a field's value as typing would (input events fire).
func (b *uiBrowser) typeInto(sel, text string) {
	b.t.Helper()
	evalJS[bool](b, `(() => { document.querySelector(`+jsString(sel)+`).value = ''; return true })()`)
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// lastErrorToast returns the text of the newest error notice ("" when none).
func lastErrorToast(b *uiBrowser) string {
	return evalJS[string](b, `(() => { const t = [...document.querySelectorAll('#toasts .toast.error span')]; return t.length ? t[t.length - 1].textContent : ''; })()`)
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func TestWebUISettingsCategories(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.openSettings("categories")
	b.waitJS("the empty list", `document.getElementById('cat-body').textContent.includes('No categories yet')`, 5*time.Second)

	// Create one through the form.
	b.typeInto("#cat-name", "tv")
	b.typeInto("#cat-save", "tv")
	b.typeInto("#cat-complete", "done")
	b.click("#cat-ok")
	tvRow := `document.querySelector('#cat-body tr[data-name="tv"]')`
	b.waitJS("tv listed", tvRow+` !== null && `+tvRow+`.textContent.includes(`+jsString(filepath.Join(d.Dirs.Download, "tv"))+`)`, 10*time.Second)
	cats, err := c.Categories(ctx)
	if err != nil || len(cats) != 1 || cats[0].Name != "tv" || cats[0].SavePath != filepath.Join(d.Dirs.Download, "tv") || cats[0].CompletePath != filepath.Join(d.Dirs.Download, "done") {
		t.Fatalf("categories after the form: %+v, %v; want tv in %s completing to %s", cats, err, filepath.Join(d.Dirs.Download, "tv"), filepath.Join(d.Dirs.Download, "done"))
	}
	// The add dialog's menu offers it too.
	b.waitJS("tv in the add dialog's menu", `[...document.getElementById('add-category').options].some((o) => o.value === 'tv')`, 5*time.Second)

	// One made through the API appears by category.changed.
	if _, err := c.SetCategory(ctx, api.Category{Name: "films", SavePath: "films"}); err != nil {
		t.Fatal(err)
	}
	b.waitJS("films listed from its event", `document.querySelector('#cat-body tr[data-name="films"]') !== null`, 10*time.Second)
	sent, _ := b.counts()
	lists := sent[api.MethodCategoryList]

	// Edit tv's save path.
	b.click(`#cat-body tr[data-name="tv"] button[aria-label="Edit tv"]`)
	b.waitJS("the form holds tv", `document.getElementById('cat-name').value === 'tv' && document.getElementById('cat-name').readOnly && document.getElementById('cat-ok').textContent === 'Save'`, 5*time.Second)
	b.typeInto("#cat-save", "tv2")
	b.click("#cat-ok")
	b.waitJS("tv's new path", tvRow+`.textContent.includes(`+jsString(filepath.Join(d.Dirs.Download, "tv2"))+`)`, 10*time.Second)
	cats, err = c.Categories(ctx)
	if err != nil || len(cats) != 2 || cats[1].Name != "tv" || cats[1].SavePath != filepath.Join(d.Dirs.Download, "tv2") {
		t.Errorf("categories after editing tv: %+v, %v", cats, err)
	}
	if sent, _ := b.counts(); sent[api.MethodCategoryList] != lists {
		t.Errorf("the page read category.list again after an edit (%d → %d): it should follow category.changed", lists, sent[api.MethodCategoryList])
	}

	// A path outside the download roots: the daemon's message is shown,
	// and nothing is created.
	b.typeInto("#cat-name", "bad")
	b.typeInto("#cat-save", "/proc/bad")
	b.click("#cat-ok")
	b.waitJS("the error notice", `[...document.querySelectorAll('#toasts .toast.error')].some((t) => t.textContent.includes('Save category bad failed') && t.textContent.includes('(error 103)'))`, 10*time.Second)
	if msg := lastErrorToast(b); !strings.Contains(msg, "outside the download roots") {
		t.Errorf("error notice %q: want the daemon's reason", msg)
	}
	if cats, _ := c.Categories(ctx); len(cats) != 2 {
		t.Errorf("categories after a refused one: %+v", cats)
	}

	// Remove tv: the button asks first.
	rm := `#cat-body tr[data-name="tv"] button[aria-label="Remove tv"]`
	b.click(rm)
	b.waitJS("the confirmation", `document.querySelector('`+rm+`').textContent === 'Remove?'`, 5*time.Second)
	if cats, _ := c.Categories(ctx); len(cats) != 2 {
		t.Errorf("a single click removed a category: %+v", cats)
	}
	b.click(rm)
	b.waitJS("tv gone", tvRow+` === null && document.querySelector('#cat-body tr[data-name="films"]') !== null`, 10*time.Second)
	if cats, err := c.Categories(ctx); err != nil || len(cats) != 1 || cats[0].Name != "films" {
		t.Errorf("categories after removing tv: %+v, %v", cats, err)
	}
	b.snapshot("settings-categories")
	b.click("#settings-close")
	b.waitJS("the dialog closed", `!document.getElementById('dlg-settings').open`, 5*time.Second)
	b.checkConsole()
}

func TestWebUIBulkSelect(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 2*time.Minute)
	ids := addPausedTorrents(t, d, 5)
	// All started (no peer: they stay downloading).
	var started api.TaskBulkResult
	if err := c.Call(ctx, api.MethodTaskResume, map[string]any{"select": api.TaskSelect{All: true}}, &started); err != nil || len(started.Results) != 5 {
		t.Fatalf("resume all: %+v, %v", started, err)
	}
	for _, id := range ids {
		waitTask(t, c, id, "started", 20*time.Second, func(tk api.Task) bool { return tk.State != api.StatePaused })
	}
	// The page sees the daemon through a proxy that can hold back events.
	in := startInjector(t, d)
	b := newUIBrowser(t, in.url, uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.waitJS("5 rows, none paused", `document.getElementById('grid').dataset.count === '5' && document.querySelectorAll('.tbody .tr[data-state="paused"]').length === 0`, 20*time.Second)

	// Tick three rows, pause them: one task.pause with select.
	sel := ids[:3]
	for _, id := range sel {
		b.click(uiRow(id) + " .c-sel input")
	}
	b.waitJS("3 selected", `document.getElementById('sel-count').textContent === '3 selected'`, 5*time.Second)
	b.click("#btn-pause")
	for _, id := range sel {
		waitTask(t, c, id, "paused by the page", 20*time.Second, func(tk api.Task) bool { return tk.State == api.StatePaused })
	}
	for _, id := range ids[3:] {
		if tk := stateOf(t, c, id); tk.State == api.StatePaused {
			t.Errorf("task %s, not selected, was paused", id)
		}
	}
	pauses := b.requestsOf(api.MethodTaskPause)
	if len(pauses) != 1 {
		t.Fatalf("the page sent %d task.pause requests, want 1: %q", len(pauses), pauses)
	}
	var req struct {
		Params struct {
			TaskID string         `json:"task_id"`
			Select api.TaskSelect `json:"select"`
		}
	}
	if err := json.Unmarshal([]byte(pauses[0]), &req); err != nil || req.Params.TaskID != "" || strings.Join(req.Params.Select.TaskIDs, ",") != strings.Join(sel, ",") {
		t.Errorf("task.pause sent %s (%v); want select.task_ids %v", pauses[0], err, sel)
	}
	b.waitJS("3 rows paused", `document.querySelectorAll('.tbody .tr[data-state="paused"]').length === 3`, 10*time.Second)

	// A task removed behind the page's back (every event about it held
	// back, so the page never learns): resuming the selection reports it
	// by name with the daemon's reason, and resumes the others. (One the
	// page has no re-read of on its way: the paused ones' were.)
	b.click(uiRow(ids[3]) + " .c-sel input")
	b.waitJS("4 selected", `document.getElementById('sel-count').textContent === '4 selected'`, 5*time.Second)
	gone := ids[3]
	in.mu.Lock()
	in.drop = func(f []byte) bool {
		return strings.Contains(string(f), `"name":"`) && strings.Contains(string(f), gone)
	}
	in.mu.Unlock()
	goneName := "task-00003.iso"
	if err := c.RemoveTask(ctx, gone, false); err != nil {
		t.Fatal(err)
	}
	b.click("#btn-resume")
	b.waitJS("the failure named", `[...document.querySelectorAll('#toasts .toast.error')].some((t) => t.textContent.includes(`+jsString("Resume "+goneName+" failed")+`) && t.textContent.includes('(error 202)'))`, 10*time.Second)
	for _, id := range sel {
		waitTask(t, c, id, "resumed by the page", 20*time.Second, func(tk api.Task) bool { return tk.State != api.StatePaused })
	}
	in.mu.Lock()
	in.drop = nil
	in.mu.Unlock()

	// Pause all: every task, in one call with select all.
	b.click("#btn-pause-all")
	for _, id := range []string{ids[0], ids[1], ids[2], ids[4]} {
		waitTask(t, c, id, "paused by Pause all", 20*time.Second, func(tk api.Task) bool { return tk.State == api.StatePaused })
	}
	pauses = b.requestsOf(api.MethodTaskPause)
	if len(pauses) != 2 || !strings.Contains(pauses[1], `"select":{"all":true}`) {
		t.Errorf("Pause all sent %q; want one task.pause with select all", pauses[1:])
	}
	b.click("#btn-resume-all")
	for _, id := range []string{ids[0], ids[1], ids[2], ids[4]} {
		waitTask(t, c, id, "resumed by Resume all", 20*time.Second, func(tk api.Task) bool { return tk.State != api.StatePaused })
	}
	if n := len(b.requestsOf(api.MethodTaskResume)); n != 2 {
		t.Errorf("the page sent %d task.resume requests, want 2 (the selection, all)", n)
	}
	b.checkConsole()
}

// The settings pages on a phone: the dialog covers the screen, each page
// fits its width (tables scroll inside it), and the tabs are in reach.
func TestWebUISettingsPhone(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	for i := range 3 {
		name := "category-with-a-long-name-" + strconv.Itoa(i)
		if _, err := c.SetCategory(ctxT(t, 10*time.Second), api.Category{Name: name, SavePath: "some/rather/long/save/path/for/" + name, CompletePath: "done/" + name}); err != nil {
			t.Fatal(err)
		}
	}
	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{width: 390, height: 844, mobile: true})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	for _, page := range []string{"general", "categories", "watch", "rss", "webhooks", "keys"} {
		b.openSettings(page)
		if page == "categories" {
			b.waitJS("the categories", `document.querySelectorAll('#cat-body tr[data-name]').length === 3`, 10*time.Second)
		}
		b.snapshot("phone-settings-" + page)
		var m struct {
			ScrollW, ClientW, DlgLeft, DlgRight, TabBottom float64
			Over                                           []string
		}
		m = evalJS[struct {
			ScrollW, ClientW, DlgLeft, DlgRight, TabBottom float64
			Over                                           []string
		}](b, `(() => {
			const dlg = document.getElementById('dlg-settings').getBoundingClientRect();
			const tab = document.getElementById('st-`+page+`').getBoundingClientRect();
			const w = document.documentElement.clientWidth;
			// Everything shown lies within the screen, but what scrolls
			// inside a box of its own (the tabs, a table's .scroll).
			const over = [...document.querySelectorAll('#sp-`+page+` *')].filter((el) => {
				if (!el.offsetParent || el.closest('.scroll')) return false;
				const r = el.getBoundingClientRect();
				return r.width > 0 && (r.right > w + 0.5 || r.left < -0.5);
			}).map((el) => el.tagName + '#' + el.id + '.' + el.className);
			return {ScrollW: document.documentElement.scrollWidth, ClientW: w, DlgLeft: dlg.left, DlgRight: dlg.right, TabBottom: tab.bottom, Over: over};
		})()`)
		if m.ScrollW > m.ClientW || m.DlgLeft < 0 || m.DlgRight > m.ClientW+0.5 {
			t.Errorf("%s page on a phone: page %v wide, dialog %v–%v, in a %v viewport", page, m.ScrollW, m.DlgLeft, m.DlgRight, m.ClientW)
		}
		if len(m.Over) > 0 {
			t.Errorf("%s page on a phone: elements stick out of the screen: %v", page, m.Over)
		}
		if m.TabBottom <= 0 || m.TabBottom > 844 {
			t.Errorf("%s page on a phone: its tab is out of reach (bottom %v)", page, m.TabBottom)
		}
	}
	// The tab strip scrolls sideways inside itself, never the page.
	if w := evalJS[float64](b, `document.querySelector('.settings-tabs').getBoundingClientRect().right`); w > 390.5 {
		t.Errorf("the tab strip reaches %v px on a 390 px screen", w)
	}
	b.checkConsole()
}
