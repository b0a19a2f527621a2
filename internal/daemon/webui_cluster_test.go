package daemon_test

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The web UI in cluster mode (issue 20, docs/CLUSTER.md): the Node column
// and filter, the Nodes panel with Drain / Undrain, the task's node in the
// detail pane and the notice of task.moved, driven in headless Chromium;
// and none of it on a daemon that is not in a cluster.

// uiVisible is a JavaScript expression: the element sel finds is laid out
// (not display: none, here or above).
func uiVisible(sel string) string {
	return `(() => { const e = document.querySelector(` + jsString(sel) + `); return e !== null && e.getClientRects().length > 0; })()`
}

// TestWebUIClusterHidden: a daemon not in a cluster shows no Node column,
// node filter or Nodes button, and the page never calls cluster.status;
// a task.moved event (injected: only a cluster sends one) is announced
// with its nodes and reason.
func TestWebUIClusterHidden(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{})
	ids := addPausedTorrents(t, d, 2)
	in := startInjector(t, d)
	b := newUIBrowser(t, in.url, uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.waitJS("2 rows", `document.getElementById('grid').dataset.count === '2'`, 10*time.Second)

	if evalJS[bool](b, `document.getElementById('app').classList.contains('clustered')`) {
		t.Error("the page is in cluster mode on a daemon that is not in a cluster")
	}
	for _, sel := range []string{"#btn-nodes", "#nodes", "#filter-node", `.thead .c-node`, uiRow(ids[0]) + " .c-node"} {
		if evalJS[bool](b, uiVisible(sel)) {
			t.Errorf("%s is shown on a daemon that is not in a cluster", sel)
		}
	}
	// The columns are where they were: State is followed by Down.
	if got := evalJS[string](b, `[...document.querySelectorAll('.thead [role=columnheader]')].filter((e) => e.getClientRects().length > 0).map((e) => e.className.split(' ')[0]).join(',')`); got != "c-sel,c-name,c-size,c-prog,c-state,c-down,c-up,c-eta,c-ratio,c-peers,c-labels,c-added" {
		t.Errorf("the columns shown: %s", got)
	}
	// So does the detail pane's Node line.
	b.click(uiRow(ids[0]) + " .name")
	b.waitJS("the detail pane", `!document.getElementById('detail').hidden && document.querySelector('.kv-hash dd').textContent === `+jsString(ids[0]), 10*time.Second)
	if evalJS[bool](b, uiVisible(".kv-node")) {
		t.Error("the detail pane shows a Node line on a daemon that is not in a cluster")
	}

	// task.moved, as a cluster sends it: a notice names the task, both
	// nodes and why.
	name := evalJS[string](b, uiRowJS(ids[1])+`.querySelector('.name').textContent`)
	in.send(t, fmt.Sprintf(`{"id":"999999","name":"task.moved","data":{"task_id":%q,"from":"a","to":"b","reason":"node_down","generation":2}}`, ids[1]))
	b.waitJS("the moved notice", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent.includes(`+jsString("Task "+name+" moved from a to b (node down)")+`))`, 10*time.Second)

	if sent, _ := b.counts(); sent[api.MethodClusterStatus] != 0 {
		t.Errorf("the page called cluster.status %d times on a daemon not in a cluster", sent[api.MethodClusterStatus])
	}
	subs := b.requestsOf(api.MethodEventsSubscribe)
	if len(subs) == 0 || !strings.Contains(subs[0], `"task.moved"`) || !strings.Contains(subs[0], `"cluster.node"`) {
		t.Errorf("events.subscribe: %q; want task.moved and cluster.node among the names", subs)
	}
	b.checkConsole()
}

// TestWebUICluster: a daemon in cluster mode (one embedded NATS node,
// "a"): the Node column shows a for its tasks, sorts and filters; the
// Nodes panel lists a as live with its task count, free disk, rates and
// a heartbeat "s ago", read again while shown; Drain turns a to draining
// (checked through the API), Undrain back to live; an API key that is not
// admin is refused with the daemon's 403 in a notice; the detail pane
// names the node.
func TestWebUICluster(t *testing.T) {
	chromiumPath(t)
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.Cluster = cluster.Config{Embedded: true, NodeID: "a", FailoverAfter: 3 * time.Second}
	}})
	c := d.Client(t)
	ctx := ctxT(t, 3*time.Minute)
	info, err := c.ServerInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster == nil || info.Cluster.Node != "a" {
		t.Fatalf("server.info cluster %+v; want node a", info.Cluster)
	}
	const n = 3
	ids := addPausedTorrents(t, d, n)
	for _, id := range ids {
		if tk, err := c.GetTask(ctx, id); err != nil || tk.Node != "a" {
			t.Fatalf("task.get %s: node %q, %v; want a", id, tk.Node, err)
		}
	}

	b := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.waitJS("the rows", fmt.Sprintf(`document.getElementById('grid').dataset.count === '%d'`, n), 20*time.Second)
	b.waitJS("cluster mode", `document.getElementById('app').classList.contains('clustered')`, 10*time.Second)

	// The Node column: a, shown, for every task; it sorts.
	for _, id := range ids {
		if got := evalJS[string](b, uiRowJS(id)+`.querySelector('.c-node').textContent`); got != "a" {
			t.Errorf("row %s: node %q; want a", id, got)
		}
	}
	if !evalJS[bool](b, uiVisible(uiRow(ids[0])+" .c-node")) || !evalJS[bool](b, uiVisible(`.thead .c-node`)) {
		t.Error("the Node column is not shown in cluster mode")
	}
	b.click(`.thead button[data-sort="node"]`)
	b.waitJS("sorted by node", `document.querySelector('.thead .c-node').getAttribute('aria-sort') === 'ascending'`, 5*time.Second)
	// The node filter offers a, and keeps a's tasks.
	b.waitJS("a in the node filter", uiVisible("#filter-node")+` && [...document.getElementById('filter-node').options].some((o) => o.value === 'a')`, 10*time.Second)
	evalJS[bool](b, `(() => { const s = document.getElementById('filter-node'); s.value = 'a'; s.dispatchEvent(new Event('change')); return true; })()`)
	b.waitJS("a's tasks", fmt.Sprintf(`document.getElementById('grid').dataset.count === '%d'`, n), 5*time.Second)
	evalJS[bool](b, `(() => { const s = document.getElementById('filter-node'); s.value = ''; s.dispatchEvent(new Event('change')); return true; })()`)

	// The detail pane names the node.
	b.click(uiRow(ids[0]) + " .name")
	b.waitJS("the node in the detail pane", uiVisible(".kv-node")+` && document.querySelector('.kv-node dd').textContent === 'a'`, 10*time.Second)
	b.click("#detail-close")

	// The Nodes panel.
	row := `document.querySelector('#nodes-body tr[data-node="a"]')`
	b.click("#btn-nodes")
	b.waitJS("node a listed live", row+` !== null && `+row+`.dataset.state === 'live' && `+row+`.querySelector('.node-state').textContent === 'Live'`, 10*time.Second)
	b.waitJS("a's task count", row+fmt.Sprintf(`.dataset.tasks === '%d' && `, n)+row+fmt.Sprintf(`.children[2].textContent === '%d'`, n), 10*time.Second)
	cells := evalJS[[]string](b, `[...`+row+`.children].map((c) => c.textContent)`)
	if len(cells) != 8 {
		t.Fatalf("node a's row: %q; want 8 cells", cells)
	}
	if !strings.HasPrefix(cells[0], "a") || !strings.Contains(cells[0], "this node") {
		t.Errorf("node cell %q; want a, marked as this node", cells[0])
	}
	if !regexp.MustCompile(`^\d+(\.\d)? (B|KiB|MiB|GiB|TiB|PiB)$`).MatchString(cells[3]) {
		t.Errorf("free disk %q; want a size in binary units", cells[3])
	}
	for _, r := range cells[4:6] {
		if !strings.HasSuffix(r, "/s") {
			t.Errorf("rate %q; want B/s units", r)
		}
	}
	if !regexp.MustCompile(`^\d+ s ago$`).MatchString(cells[6]) {
		t.Errorf("last heartbeat %q; want N s ago", cells[6])
	}
	// Read again while shown (every 5 s).
	sent, _ := b.counts()
	first := sent[api.MethodClusterStatus]
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		sent, _ := b.counts()
		if sent[api.MethodClusterStatus] > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster.status sent %d times, and not again in 20 s with the panel shown; want it read every 5 s", first)
		}
	}

	// Drain asks first, then turns a to draining.
	btn := `#nodes-body tr[data-node="a"] button[data-node="a"]`
	b.click(btn)
	b.waitJS("the confirmation", `document.querySelector(`+jsString(btn)+`).textContent === 'Drain?'`, 5*time.Second)
	b.click(btn)
	b.waitJS("a draining", row+`.dataset.state === 'draining' && `+row+`.querySelector('.node-state').textContent === 'Draining' && document.querySelector(`+jsString(btn)+`).textContent === 'Undrain'`, 10*time.Second)
	var st api.ClusterStatusResult
	if err := c.Call(ctx, api.MethodClusterStatus, nil, &st); err != nil || len(st.Nodes) == 0 || st.Nodes[0].ID != "a" || st.Nodes[0].State != api.NodeStateDraining {
		t.Errorf("cluster.status after Drain: %+v, %v; want a draining", st, err)
	}
	b.click(btn)
	b.waitJS("a live again", row+`.dataset.state === 'live' && document.querySelector(`+jsString(btn)+`).textContent === 'Drain'`, 10*time.Second)
	if err := c.Call(ctx, api.MethodClusterStatus, nil, &st); err != nil || len(st.Nodes) == 0 || st.Nodes[0].State != api.NodeStateLive {
		t.Errorf("cluster.status after Undrain: %+v, %v; want a live", st, err)
	}
	b.snapshot("cluster-nodes")
	b.checkConsole()

	// A control key may see the nodes, not drain them: the daemon's 403
	// is shown, and a stays live.
	key, err := c.CreateKey(ctx, "operator", api.ScopeControl)
	if err != nil {
		t.Fatal(err)
	}
	kb := newUIBrowser(t, uiBase(t, d), uiBrowserOptions{})
	kb.open("/?token=" + key.Key)
	kb.waitLoggedIn()
	kb.click("#btn-nodes")
	kb.waitJS("node a listed", row+` !== null && `+row+`.dataset.state === 'live'`, 10*time.Second)
	kb.allowErrors(regexp.MustCompile(`403|forbidden`))
	kb.click(btn)
	kb.click(btn)
	kb.waitJS("the refusal", `[...document.querySelectorAll('#toasts .toast.error')].some((t) => t.textContent.includes('Drain a failed') && t.textContent.includes('(error 403)'))`, 10*time.Second)
	if err := c.Call(ctx, api.MethodClusterStatus, nil, &st); err != nil || len(st.Nodes) == 0 || st.Nodes[0].State != api.NodeStateLive {
		t.Errorf("cluster.status after a refused Drain: %+v, %v; want a live", st, err)
	}
	kb.allowErrors(nil)
	kb.checkConsole()
}

// TestWebUIClusterNodes: three nodes routed into one cluster, the page on
// node a. Tasks pinned to a, b and c show their node, the node filter
// keeps each node's, and the Nodes panel counts them; Drain on b (from the
// page on a) moves b's tasks to a and c: each is announced ("moved from b
// to a (drained)"), its row follows it without leaving the table, and the
// panel counts them (checked through the API). Then node c stops: its
// tasks move to a, announced "(node down)", and c is no longer live.
func TestWebUIClusterNodes(t *testing.T) {
	chromiumPath(t)
	nodes := daemontest.StartAll(t, clusterOptions(t, 3, 3*time.Second)...)
	ca := nodes[0].Client(t)
	ctx := ctxT(t, 3*time.Minute)
	base := enginetest.Generate(t, enginetest.Content{Name: "base.bin", Size: 40_000, Seed: 65})
	mi := enginetest.Parse(t, base.MetaInfo)
	placed := map[string]string{} // task → node
	names := map[string]string{}
	for i, node := range []string{"a", "b", "b", "c"} {
		name := fmt.Sprintf("pinned-%d.iso", i)
		res, err := ca.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(mi.WithName(name)), Paused: true, Node: node})
		if err != nil || res.Node != node {
			t.Fatalf("task.add pinned to %s: %+v, %v", node, res, err)
		}
		placed[res.TaskID], names[res.TaskID] = node, name
	}

	b := newUIBrowser(t, uiBase(t, nodes[0]), uiBrowserOptions{})
	b.open("/?token=" + daemontest.Token)
	b.waitLoggedIn()
	b.waitJS("4 rows", `document.getElementById('grid').dataset.count === '4'`, 20*time.Second)
	for id, node := range placed {
		b.waitJS("the node of "+names[id], uiRowJS(id)+`.querySelector('.c-node').textContent === `+jsString(node), 10*time.Second)
	}
	filter := func(node, want string) {
		t.Helper()
		evalJS[bool](b, `(() => { const s = document.getElementById('filter-node'); s.value = `+jsString(node)+`; s.dispatchEvent(new Event('change')); return true; })()`)
		b.waitJS("the tasks of node "+node, `document.getElementById('grid').dataset.count === `+jsString(want), 5*time.Second)
	}
	b.waitJS("a, b and c in the node filter", `[...document.getElementById('filter-node').options].map((o) => o.value).join() === ',a,b,c'`, 10*time.Second)
	filter("b", "2")
	filter("a", "1")
	filter("", "4")

	rowOf := func(node string) string { return `document.querySelector('#nodes-body tr[data-node="` + node + `"]')` }
	b.click("#btn-nodes")
	b.waitJS("a and b listed live with their tasks", rowOf("a")+` !== null && `+rowOf("b")+` !== null && `+rowOf("a")+`.dataset.state === 'live' && `+rowOf("b")+`.dataset.state === 'live' && `+rowOf("a")+`.dataset.tasks === '1' && `+rowOf("b")+`.dataset.tasks === '2'`, 20*time.Second)
	if got := evalJS[string](b, `[...document.querySelectorAll('#nodes-body tr')].map((r) => r.dataset.node).join()`); got != "a,b,c" {
		t.Errorf("nodes listed %q; want a,b,c", got)
	}

	// Drain b from the page on a: its tasks move to a or c.
	btn := `#nodes-body button[data-node="b"]`
	b.click(btn)
	drained := time.Now()
	b.click(btn)
	b.waitJS("b draining", rowOf("b")+`.dataset.state === 'draining'`, 10*time.Second)
	toast := func(re string) string {
		return `[...document.querySelectorAll('#toasts .toast')].some((t) => new RegExp(` + jsString(re) + `).test(t.textContent))`
	}
	now := map[string]string{} // task → node, after the drain
	for id, node := range placed {
		now[id] = node
		if node != "b" {
			continue
		}
		b.waitJS(names[id]+" moved", toast(`^Task `+regexp.QuoteMeta(names[id])+` moved from b to [ac] \(drained\)`), 30*time.Second)
		// The new node takes it up (its reconciler adds it) soon after:
		// until then task.get says task_not_found, which the page waits
		// out.
		waitUntilAPI(t, "task.get of "+names[id]+" off b", 30*time.Second, func() bool {
			tk, err := ca.GetTask(ctx, id)
			now[id] = tk.Node
			return err == nil && (tk.Node == "a" || tk.Node == "c")
		})
		t.Logf("%s runs on %s %v after Drain", names[id], now[id], time.Since(drained).Round(100*time.Millisecond))
		b.waitJS(names[id]+"'s row on "+now[id], uiRowJS(id)+` !== null && `+uiRowJS(id)+`.querySelector('.c-node').textContent === `+jsString(now[id])+` && `+toast(`^Task `+regexp.QuoteMeta(names[id])+` moved from b to `+now[id]+` \(drained\)`), 10*time.Second)
	}
	count := func(node string) int {
		k := 0
		for _, n := range now {
			if n == node {
				k++
			}
		}
		return k
	}
	b.waitJS("the panel counts them", rowOf("a")+fmt.Sprintf(`.dataset.tasks === '%d' && `, count("a"))+rowOf("c")+fmt.Sprintf(`.dataset.tasks === '%d' && `, count("c"))+rowOf("b")+`.dataset.tasks === '0'`, 20*time.Second)
	// The rows stayed: a moved task is never shown as removed.
	if got := evalJS[string](b, `document.getElementById('grid').dataset.count`); got != "4" {
		t.Errorf("rows after the move: %s; want 4", got)
	}
	b.snapshot("cluster-drained")

	// Node c stops: after the failover time its tasks move to a (b is
	// draining), announced as such, and c is not live any more.
	stopped := time.Now()
	nodes[2].Stop(t)
	for id, node := range now {
		if node != "c" {
			continue
		}
		b.waitJS(names[id]+" moved off c", toast(`^Task `+regexp.QuoteMeta(names[id])+` moved from c to a \(node down\)`), 60*time.Second)
		t.Logf("%s moved off c, on the page, %v after c began to stop (failover after 3s)", names[id], time.Since(stopped).Round(100*time.Millisecond))
		b.waitJS(names[id]+"'s row on a", uiRowJS(id)+` !== null && `+uiRowJS(id)+`.querySelector('.c-node').textContent === 'a'`, 10*time.Second)
	}
	b.waitJS("c not live", rowOf("c")+` === null || `+rowOf("c")+`.dataset.state === 'down'`, 20*time.Second)
	b.waitJS("a counts all 4", rowOf("a")+`.dataset.tasks === '4'`, 20*time.Second)
	if got := evalJS[string](b, `document.getElementById('grid').dataset.count`); got != "4" {
		t.Errorf("rows after c stopped: %s; want 4", got)
	}
	for id := range placed {
		waitUntilAPI(t, "task.get of "+names[id]+" on a", 30*time.Second, func() bool {
			tk, err := ca.GetTask(ctx, id)
			return err == nil && tk.Node == "a"
		})
	}
	if got := evalJS[string](b, `document.getElementById('grid').dataset.count`); got != "4" {
		t.Errorf("rows once a runs every task: %s; want 4", got)
	}
	b.checkConsole()
}
