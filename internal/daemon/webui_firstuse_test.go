package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// TestWebUIFirstUse checks what a new user sees first (issue 19's web UI
// nits): a loading state until the task list arrives (not "No tasks yet."
// and "– free"), an idle rate graph that says so, zero rates as "0 B/s",
// sizes as the CLI prints them, unambiguous dates, state names not cut
// off at the usual window widths, a labelled Log out button, and the add
// dialog's defaults.
func TestWebUIFirstUse(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 3*time.Minute)
	in := startInjector(t, d)
	b := newUIBrowser(t, in.url, uiBrowserOptions{})

	// 1. Before the list: the daemon's answer to task.list and its
	// session.stats events are kept from the page, which must say it is
	// loading rather than that there is nothing.
	in.mu.Lock()
	in.drop = func(frame []byte) bool {
		var f struct {
			Name   string
			Result struct{ Tasks json.RawMessage }
		}
		return json.Unmarshal(frame, &f) == nil && (f.Result.Tasks != nil || f.Name == api.EventSessionStats)
	}
	in.mu.Unlock()
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	waitUntilAPI(t, "the page's task.list sent", 10*time.Second, func() bool {
		sent, _ := b.counts()
		return sent[api.MethodTaskList] > 0
	})
	// Two frames: the page draws what it has (the old page drew "No tasks
	// yet." on the first frame after it was shown).
	var before struct {
		Empty, Count, Hint, Disk string
		EmptyShown, HintShown    bool
		DiskShown                bool
	}
	before = evalJS[struct {
		Empty, Count, Hint, Disk string
		EmptyShown, HintShown    bool
		DiskShown                bool
	}](b, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
		const el = (id) => document.getElementById(id);
		const shown = (e) => e.offsetParent !== null;
		done({Empty: el('empty-text').textContent, Count: el('count').textContent, Hint: el('empty-hint').textContent, Disk: el('disk').textContent,
			EmptyShown: shown(el('empty-text')), HintShown: shown(el('empty-hint')), DiskShown: shown(el('disk'))});
	})))`)
	if before.Empty != "Loading tasks…" || !before.EmptyShown || before.HintShown || before.Count != "Loading…" {
		t.Errorf("before the task list arrived the page shows %+v; want \"Loading tasks…\" shown, the add hint hidden, the count \"Loading…\"", before)
	}
	if before.DiskShown {
		t.Errorf("before any session.stats the header shows the free space as %q; want it hidden until known", before.Disk)
	}

	// 2. The list arrives (a reload without the filter): now the page may
	// say there is nothing, with the hint; the free space comes with the
	// first session.stats.
	in.mu.Lock()
	in.drop = nil
	in.mu.Unlock()
	b.do("reload", chromedp.Reload())
	b.waitLoggedIn()
	b.waitJS("the empty list", `document.getElementById('empty-text').textContent === 'No tasks yet.' && document.getElementById('empty-hint').offsetParent !== null && document.getElementById('count').textContent === '0 tasks'`, 10*time.Second)
	b.waitJS("the free space", `document.getElementById('disk').offsetParent !== null && /^\S+ [KMGTPE]?i?B free$/.test(document.getElementById('disk').textContent.replace('Free disk space: ', '').trim())`, 20*time.Second)

	// The idle rate graph: a baseline drawn, "idle" shown, no text-field
	// border; the header's rates read 0 B/s.
	var graph struct {
		IdleShown     bool
		BaselineAlpha int
		Border        string
		Down, Up      string
	}
	graph = evalJS[struct {
		IdleShown     bool
		BaselineAlpha int
		Border        string
		Down, Up      string
	}](b, `(() => {
		const c = document.getElementById('rate-graph');
		const px = c.getContext('2d').getImageData(Math.floor(c.width / 2), c.height - 1, 1, 1).data;
		const idle = document.getElementById('graph-idle');
		return {IdleShown: idle.offsetParent !== null && !idle.hidden && idle.textContent === 'idle', BaselineAlpha: px[3],
			Border: getComputedStyle(c).borderTopStyle, Down: document.getElementById('rate-down').textContent, Up: document.getElementById('rate-up').textContent};
	})()`)
	if !graph.IdleShown || graph.BaselineAlpha == 0 || graph.Border != "none" || graph.Down != "0 B/s" || graph.Up != "0 B/s" {
		t.Errorf("the idle header: %+v; want \"idle\" shown, a baseline drawn (alpha > 0), no border, 0 B/s down and up", graph)
	}

	// Log out is a labelled button, not a glyph.
	if got := evalJS[string](b, `(() => { const e = document.getElementById('btn-logout'); return e.offsetParent !== null ? e.innerText.trim() : 'hidden'; })()`); got != "Log out" {
		t.Errorf("the log-out button reads %q, want \"Log out\"", got)
	}

	// 3. Sizes: the UI's formatting is the CLI's, case by case
	// (web/testdata/formats.json; internal/cli TestFormatBytesShared
	// checks the same cases against formatBytes).
	raw, err := os.ReadFile("../../web/testdata/formats.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases struct {
		Bytes [][2]json.RawMessage `json:"bytes"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil || len(cases.Bytes) == 0 {
		t.Fatalf("formats.json: %v (%d cases)", err, len(cases.Bytes))
	}
	list, _ := json.Marshal(cases.Bytes)
	if bad := evalJS[[]string](b, `import('/format.js').then((f) => `+string(list)+`.filter(([n, want]) => f.size(n) !== want).map(([n, want]) => n + ': ' + f.size(n) + ', want ' + want))`); len(bad) > 0 {
		t.Errorf("the UI formats sizes unlike the CLI: %v", bad)
	}

	// A paused torrent of 5,000,000 bytes ("4.8 MiB", as `lodestone ls`
	// says) and a magnet that stays fetching its metadata (no peers).
	tr := enginetest.Generate(t, enginetest.Content{Name: "first.bin", Size: 5_000_000, Seed: 67})
	paused, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	magnet := addMagnet(t, c, "magnet:?xt=urn:btih:"+fmt.Sprintf("%040x", 0x1900ff)+"&dn=nobody-seeds-this")
	b.waitJS("both rows", uiRowJS(paused.TaskID)+` !== null && `+uiRowJS(magnet.TaskID)+`?.dataset.state === 'metadata'`, 20*time.Second)
	b.snapshot("first-use")
	task, err := c.GetTask(ctx, paused.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	added, err := time.Parse(time.RFC3339Nano, task.AddedAt)
	if err != nil {
		t.Fatalf("added_at %q: %v", task.AddedAt, err)
	}
	var row struct{ Size, Down, Up, Added string }
	row = evalJS[struct{ Size, Down, Up, Added string }](b, `(() => {
		const r = `+uiRowJS(paused.TaskID)+`;
		const q = (s) => r.querySelector(s).textContent;
		return {Size: q('.c-size'), Down: q('.c-down'), Up: q('.c-up'), Added: q('.c-added')};
	})()`)
	if want := added.Local().Format("2006-01-02 15:04"); row.Size != "4.8 MiB" || row.Down != "0 B/s" || row.Up != "0 B/s" || row.Added != want {
		t.Errorf("the paused task's row: %+v; want size 4.8 MiB, 0 B/s down and up, added %s (ISO, local time)", row, want)
	}

	// The state column holds "Fetching metadata" whole at the widths the
	// stylesheet lays out differently, and the rate columns the widest
	// rates ("1023.9 MiB/s", from a task.progress the test sends the page
	// as the daemon would); no cell but the name's (which has a tooltip)
	// is cut off. A text's laid-out width is measured with a Range: an
	// ellipsis is only painted, and scrollWidth rounds away the fraction
	// of a pixel that makes one.
	wide := fmt.Sprintf(`{"id":"0","name":"task.progress","data":{"task_id":"%s","state":"downloading","size":5000000,"completed":0,"download_rate":1073689395,"upload_rate":1073689395,"peers":3,"eta_seconds":86399,"downloaded":0,"uploaded":0,"ratio":0}}`, paused.TaskID)
	for _, w := range []int64{1280, 1100, 850} {
		b.do(fmt.Sprintf("a %d px window", w), chromedp.EmulateViewport(w, 900))
		var cut []string
		for try := 0; ; try++ {
			// The page zeroes rates not renewed for 3 s: measured only
			// while the row shows the wide ones.
			in.send(t, wide)
			cut = evalJS[[]string](b, `new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => {
				if (`+uiRowJS(paused.TaskID)+`.querySelector('.c-down').textContent !== '1023.9 MiB/s') return done(null);
				const out = [];
				const right = document.getElementById('tbody').getBoundingClientRect().right;
				for (const r of document.querySelectorAll('.tbody .tr:not([hidden])')) {
					for (const c of r.querySelectorAll('[role=gridcell]:not(.c-name):not(.c-labels)')) {
						if (c.offsetParent === null) continue;
						const range = document.createRange();
						range.selectNodeContents(c);
						const need = range.getBoundingClientRect().width, have = c.getBoundingClientRect().width;
						if (need > have + 0.01 || c.scrollWidth > c.clientWidth) out.push(c.className + ': ' + c.textContent + ' (' + need.toFixed(1) + ' > ' + have.toFixed(1) + ' px)');
						else if (c.getBoundingClientRect().right > right + 0.5) out.push(c.className + ': ' + c.textContent + ' (past the table\'s right edge)');
					}
				}
				done(out);
			})))`)
			if cut != nil || try == 20 {
				break
			}
		}
		if cut == nil {
			t.Fatalf("at %d px the row never showed the sent rate", w)
		}
		if len(cut) > 0 {
			t.Errorf("at %d px, cells cut off: %v", w, cut)
		}
		if w == 1280 {
			if got := evalJS[string](b, uiRowJS(magnet.TaskID)+`.querySelector('.c-state').innerText`); got != "Fetching metadata" {
				t.Errorf("the magnet's state reads %q", got)
			}
		}
	}
	b.do("back to 1280 px", chromedp.EmulateViewport(1280, 900))

	// The detail pane's dates carry seconds, as the CLI's do.
	b.click(uiRow(paused.TaskID) + " .name")
	b.waitJS("the detail pane", `document.getElementById('detail-title').textContent === 'first.bin'`, 10*time.Second)
	if got, want := evalJS[string](b, `document.querySelector('#d-info .kv-added dd').textContent`), added.Local().Format("2006-01-02 15:04:05"); got != want {
		t.Errorf("the detail pane's added date %q, want %q", got, want)
	}
	b.click("#detail-close")

	// 4. The add dialog starts downloading by default, without the file
	// choice; the button says what the two boxes will do together.
	b.click("#btn-add")
	b.waitJS("the add dialog", `document.getElementById('dlg-add').open`, 5*time.Second)
	addState := func() string {
		return evalJS[string](b, `[document.getElementById('add-start').checked, document.getElementById('add-choose').checked, document.getElementById('add-ok').textContent].join('|')`)
	}
	if got := addState(); got != "true|false|Add" {
		t.Errorf("the add dialog opens with start|choose|button = %q, want true|false|Add", got)
	}
	b.click("#add-choose")
	if got := addState(); got != "true|true|Next: choose files" {
		t.Errorf("after ticking Choose files first: %q", got)
	}
	b.click("#add-start")
	b.click("#add-choose")
	if got := addState(); got != "false|false|Add paused" {
		t.Errorf("with neither ticked: %q", got)
	}
	b.click("#add-start")
	b.click("#add-cancel")
	if m := regexp.MustCompile(`\d{1,2}/\d{1,2}/\d{2}\b`).FindString(evalJS[string](b, `document.body.innerText`)); m != "" {
		t.Errorf("the page shows a locale-dependent date %q", m)
	}
	b.checkConsole()
}
