package daemon_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// BenchmarkWebUI2000 measures the web UI with 2,000 tasks in headless
// Chromium: ns/op is one page load, from navigation to all 2,000 tasks in
// the table (the page's own clock). Reported besides, measured once:
//
//   - load-ms: the same, as the page saw it;
//   - sort-ms, filter-ms, unfilter-ms: the main thread's busy time to
//     re-sort (filter, clear the filter) the 2,000 tasks and redraw the
//     table; *-latency-ms: from the click to the table laid out, waiting
//     for the next frame included;
//   - scroll-frame-ms: mean time between frames while scrolling the table
//     through all rows, one step a frame;
//   - heap-MB: the JavaScript heap after a GC, with 2,000 tasks;
//   - busy-%: main-thread time (all tasks) while all 2,000 tasks download
//     with no peer — a task.progress event for each, every second — and
//     progress-ev/s, the events the page got per second meanwhile;
//   - burst-sort-latency-ms: a sort in the middle of that;
//   - synthetic-busy-% and synthetic-µs/event: the same with numbers that
//     change, so rows redraw and move: a proxy adds 2,000 task.progress
//     events a second (every task, new values) for 10 s, the table sorted
//     by progress; long-tasks and longest-task-ms: main-thread tasks over
//     50 ms meanwhile.
//
// Run it alone: go test -run '^$' -bench WebUI2000 -benchtime 1x ./internal/daemon
func BenchmarkWebUI2000(b *testing.B) {
	chromiumPath(b)
	const n = 2000
	d := daemontest.Start(b, daemontest.Options{})
	start := time.Now()
	ids := addPausedTorrents(b, d, n)
	b.Logf("added %d paused tasks in %v", len(ids), time.Since(start).Round(time.Millisecond))
	br := newUIBrowser(b, uiBase(b, d), uiBrowserOptions{})
	if _, err := chromedp.Run(br.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, performance.Enable, performance.EnableParams{})
		return err
	})); err != nil {
		b.Fatal(err)
	}
	const all = `(() => { const g = document.getElementById('grid'); return g && g.dataset.count === '2000' && document.getElementById('conn-status').textContent === '' ? performance.now() : 0 })()`

	var loadMs float64
	b.ResetTimer()
	for range b.N {
		br.do("open", chromedp.Navigate(br.base+"/?token="+daemontest.Token))
		ctx, cancel := context.WithTimeout(br.ctx, 60*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Poll[float64](all, chromedp.WithPollingTimeout(55*time.Second)))
		cancel()
		if err != nil {
			b.Fatalf("waiting for 2,000 rows: %v", err)
		}
		loadMs = v
	}
	b.StopTimer()
	b.ReportMetric(loadMs, "load-ms")

	// A sort, a filter, and back. Two numbers each: the main thread's busy
	// time for it (Performance metrics), and the time from the click to
	// the table laid out, which includes waiting for the next frame.
	frame := func(action string) (busy, latency float64) {
		m0 := pageMetrics(b, br)
		latency = evalJS[float64](br, `(async () => {
			const t0 = performance.now();
			`+action+`;
			await new Promise((r) => requestAnimationFrame(r));
			void document.body.offsetHeight; // style and layout, now
			return performance.now() - t0;
		})()`)
		m1 := pageMetrics(b, br)
		b.Logf("%.40s: script %.1f ms, style %.1f ms, layout %.1f ms, task %.1f ms", action,
			1000*(m1["ScriptDuration"]-m0["ScriptDuration"]), 1000*(m1["RecalcStyleDuration"]-m0["RecalcStyleDuration"]),
			1000*(m1["LayoutDuration"]-m0["LayoutDuration"]), 1000*(m1["TaskDuration"]-m0["TaskDuration"]))
		return 1000 * (m1["TaskDuration"] - m0["TaskDuration"]), latency
	}
	report := func(name string, busy, latency float64) {
		b.ReportMetric(busy, name+"-ms")
		b.ReportMetric(latency, name+"-latency-ms")
	}
	busy, lat := frame(`document.querySelector('button[data-sort="name"]').click()`)
	report("sort", busy, lat)
	busy, lat = frame(`(() => { const f = document.getElementById('filter-text'); f.value = 'task-0199'; f.dispatchEvent(new Event('input')); })()`)
	report("filter", busy, lat)
	if got := evalJS[string](br, `document.getElementById('grid').dataset.count`); got != "10" {
		b.Errorf("the filter left %s rows, want 10", got)
	}
	busy, lat = frame(`(() => { const f = document.getElementById('filter-text'); f.value = ''; f.dispatchEvent(new Event('input')); })()`)
	report("unfilter", busy, lat)

	// Scrolling through every row, one step a frame.
	scroll := evalJS[float64](br, `(async () => {
		const body = document.getElementById('tbody');
		const steps = 120;
		const max = body.scrollHeight - body.clientHeight;
		let last = await new Promise((r) => requestAnimationFrame(r));
		let sum = 0;
		for (let i = 1; i <= steps; i++) {
			body.scrollTop = (max * i) / steps;
			const ts = await new Promise((r) => requestAnimationFrame(r));
			sum += ts - last;
			last = ts;
		}
		return sum / steps;
	})()`)
	b.ReportMetric(scroll, "scroll-frame-ms")

	if _, err := chromedp.Run(br.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, heapprofiler.CollectGarbage, cdp.Empty{})
		return err
	})); err != nil {
		b.Fatal(err)
	}
	heap, err := chromedp.Run(br.ctx, func(ctx context.Context, t *chromedp.Target) (runtime.GetHeapUsageResult, error) {
		return cdp.Call(ctx, t, runtime.GetHeapUsage, cdp.Empty{})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(heap.UsedSize/(1<<20), "heap-MB")

	// Every task downloading (with no peer): 2,000 task.progress events a
	// second. Measure the page's main thread over 10 s of that.
	c := daemontest.Dial(b, d.URL)
	resume := func(method string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := c.Call(ctx, method, api.TaskIDParams{TaskID: id}, nil); err != nil {
					b.Errorf("%s: %v", method, err)
				}
			}()
		}
		wg.Wait()
	}
	_, before := br.counts()
	resume(api.MethodTaskResume)
	// The measurement starts once the burst reaches the page: a snapshot
	// of every task has arrived.
	deadline := time.Now().Add(60 * time.Second)
	for _, ev := br.counts(); ev[api.EventTaskProgress]-before[api.EventTaskProgress] < n; _, ev = br.counts() {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d first task.progress events reached the page within 60s", ev[api.EventTaskProgress]-before[api.EventTaskProgress], n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, ev0 := br.counts()
	m0 := pageMetrics(b, br)
	t0 := time.Now()
	time.Sleep(5 * time.Second) // half of the measured window
	_, burstSort := frame(`document.querySelector('button[data-sort="progress"]').click()`)
	time.Sleep(5 * time.Second) // the other half
	m1 := pageMetrics(b, br)
	window := time.Since(t0).Seconds()
	_, ev1 := br.counts()
	got := float64(ev1[api.EventTaskProgress] - ev0[api.EventTaskProgress])
	b.ReportMetric(100*(m1["TaskDuration"]-m0["TaskDuration"])/window, "busy-%")
	b.ReportMetric(got/window, "progress-ev/s")
	b.ReportMetric(burstSort, "burst-sort-latency-ms")
	b.Logf("during the burst: script %.0f ms/s, layout %.0f ms/s, style %.0f ms/s, %d layouts",
		1000*(m1["ScriptDuration"]-m0["ScriptDuration"])/window,
		1000*(m1["LayoutDuration"]-m0["LayoutDuration"])/window,
		1000*(m1["RecalcStyleDuration"]-m0["RecalcStyleDuration"])/window,
		int(m1["LayoutCount"]-m0["LayoutCount"]))
	if got == 0 {
		b.Error("no task.progress event reached the page during the burst")
	}
	resume(api.MethodTaskPause)

	// Changing values: through a proxy that adds task.progress events to
	// the daemon's stream, 2,000 a second (every task, new numbers each
	// time), sorted by progress so rows move.
	in := startInjector(b, d)
	br.do("open through the injector", chromedp.Navigate(in.url+"/?token="+daemontest.Token))
	br.waitJS("2,000 rows", all, 60*time.Second)
	evalJS[bool](br, `(() => { window.__long = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); }).observe({type: 'longtask'}); return true; })()`)
	br.click(`button[data-sort="progress"]`)
	// DevTools' own recording of every WebSocket frame costs the page
	// time: off for this part.
	if _, err := chromedp.Run(br.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, network.Disable, cdp.Empty{})
		return err
	})); err != nil {
		b.Fatal(err)
	}
	const rounds = 10
	m0 = pageMetrics(b, br)
	t0 = time.Now()
	for r := range rounds {
		next := t0.Add(time.Duration(r+1) * time.Second)
		for i, id := range ids {
			size := int64(40_000)
			done := int64((i*7919 + r*1543) % 40_000)
			in.send(b, fmt.Sprintf(`{"id":"%d","name":"task.progress","data":{"task_id":"%s","state":"downloading","size":%d,"completed":%d,"download_rate":%d,"upload_rate":%d,"peers":%d,"eta_seconds":%d,"downloaded":%d,"uploaded":%d,"ratio":%g}}`,
				9_000_000_000+r*n+i, id, size, done, 1000+(i*31+r*977)%500_000, (i*17+r*313)%100_000, 1+(i+r)%40, (size-done)/1000, done, done/3, 1.0/3))
		}
		time.Sleep(time.Until(next))
	}
	m1 = pageMetrics(b, br)
	window = time.Since(t0).Seconds()
	long := evalJS[[]float64](br, `window.__long`)
	maxLong := 0.0
	for _, l := range long {
		maxLong = max(maxLong, l)
	}
	b.ReportMetric(100*(m1["TaskDuration"]-m0["TaskDuration"])/window, "synthetic-busy-%")
	b.ReportMetric(1000*(m1["TaskDuration"]-m0["TaskDuration"])/float64(rounds*n)*1000, "synthetic-µs/event")
	b.ReportMetric(float64(len(long)), "long-tasks")
	b.ReportMetric(maxLong, "longest-task-ms")
	b.Logf("synthetic burst: script %.0f ms/s, layout %.0f ms/s, style %.0f ms/s, %d layouts; long tasks %v",
		1000*(m1["ScriptDuration"]-m0["ScriptDuration"])/window,
		1000*(m1["LayoutDuration"]-m0["LayoutDuration"])/window,
		1000*(m1["RecalcStyleDuration"]-m0["RecalcStyleDuration"])/window,
		int(m1["LayoutCount"]-m0["LayoutCount"]), long)
	if got := evalJS[string](br, `document.querySelector('.tbody .tr:not([hidden]) .pct').textContent`); got == "0%" {
		b.Errorf("after the synthetic burst the first row shows %s", got)
	}
	br.checkConsole()
}

// pageMetrics reads the tab's Performance metrics (TaskDuration and the
// like are cumulative seconds of main-thread time).
func pageMetrics(b *testing.B, br *uiBrowser) map[string]float64 {
	b.Helper()
	r, err := chromedp.Run(br.ctx, func(ctx context.Context, t *chromedp.Target) (performance.GetMetricsResult, error) {
		return cdp.Call(ctx, t, performance.GetMetrics, cdp.Empty{})
	})
	if err != nil {
		b.Fatal(err)
	}
	m := map[string]float64{}
	for _, x := range r.Metrics {
		m[x.Name] = x.Value
	}
	return m
}
