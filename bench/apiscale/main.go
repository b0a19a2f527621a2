// Command apiscale measures Lodestone's WebSocket API with many tasks: it
// starts the real daemon binary in a fresh data dir, adds generated
// torrents (some paused, some with their data on disk), and measures
// task.list (full and projected), task.get and session.stats (one
// connection, sequential and pipelined), memory per task, event delivery
// to many connected clients, and the time from a restart to serving. It
// runs aria2's WebSocket JSON-RPC through the same client code for
// comparison, and prints a markdown table and JSON.
//
// Everything talks to 127.0.0.1 only; run it in a private network
// namespace (bench/run-apiscale does). Every phase is bounded in count
// and time.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

type options struct {
	bin, aria2, workDir, pprofDir, jsonOut string
	tasks, withData, clients, rounds       int
	addConns, window, n                    int
	dur                                    time.Duration
	keep                                   bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "/tmp/lodestone", "lodestone binary")
	flag.StringVar(&o.aria2, "aria2", "aria2c", "aria2c binary for the comparison (\"\" skips it)")
	flag.StringVar(&o.workDir, "dir", "", "work dir (default: a new temp dir, removed at the end)")
	flag.StringVar(&o.pprofDir, "pprof", "", "if set, run the daemon with --pprof-addr and write CPU profiles of each phase here")
	flag.StringVar(&o.jsonOut, "json", "", "also write the JSON report to this file")
	flag.IntVar(&o.tasks, "tasks", 10000, "tasks to add")
	flag.IntVar(&o.withData, "with-data", 5000, "of which this many have their data on disk (the others are added paused)")
	flag.IntVar(&o.clients, "clients", 1000, "connected clients for the event delivery test")
	flag.IntVar(&o.rounds, "rounds", 20, "state changes in the event delivery test")
	flag.IntVar(&o.addConns, "add-conns", 8, "connections adding tasks concurrently")
	flag.IntVar(&o.window, "window", 64, "requests in flight in the pipelined runs")
	flag.IntVar(&o.n, "n", 200000, "most requests per rate run")
	flag.DurationVar(&o.dur, "dur", 5*time.Second, "longest rate run")
	flag.BoolVar(&o.keep, "keep", false, "keep the work dir")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	rep, err := run(ctx, o, log)
	if rep != nil {
		printReport(os.Stdout, rep)
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Printf("\n```json\n%s\n```\n", b)
		if o.jsonOut != "" {
			os.WriteFile(o.jsonOut, b, 0o644)
		}
	}
	if err != nil {
		log.Error("apiscale failed", "err", err)
		os.Exit(1)
	}
}

// report is everything measured, in the JSON printed at the end.
type report struct {
	Tasks    int `json:"tasks"`
	WithData int `json:"tasks_with_data"`

	AddSeconds    float64 `json:"add_seconds"`
	SettleSeconds float64 `json:"settle_seconds"` // add end → no task checking

	RSSEmptyMiB      float64               `json:"rss_empty_mib"`
	RSSLoadedMiB     float64               `json:"rss_loaded_mib"`
	RSSRestartMiB    float64               `json:"rss_restarted_mib"`
	RSSPerTaskKiB    float64               `json:"rss_per_task_kib"`
	RSSPerTaskRKiB   float64               `json:"rss_per_task_restarted_kib"`
	IdleCPUPercent   float64               `json:"idle_cpu_percent"` // of one core, with all tasks loaded
	IdleCPURestart   float64               `json:"idle_cpu_percent_restarted"`
	ListFull         listResult            `json:"task_list_full"`
	ListProjected    listResult            `json:"task_list_projected"`
	Lodestone        map[string]loadResult `json:"lodestone"`
	Aria2            map[string]loadResult `json:"aria2,omitempty"`
	Events           eventResult           `json:"events"`
	StopSeconds      float64               `json:"stop_seconds"`
	RestartServing   float64               `json:"restart_to_serving_seconds"`
	RestartSettled   float64               `json:"restart_to_settled_seconds"`
	ListAfterRestart listResult            `json:"task_list_projected_after_restart"`
}

type listResult struct {
	Runs     int     `json:"runs"`
	P50ms    float64 `json:"p50_ms"`
	MaxMs    float64 `json:"max_ms"`
	Bytes    int     `json:"bytes"`
	DecodeMs float64 `json:"go_decode_ms"` // encoding/json into api types, client side
}

type eventResult struct {
	Clients    int     `json:"clients"`
	Rounds     int     `json:"rounds"`
	Deliveries int     `json:"deliveries"`
	Missing    int     `json:"missing"`
	ConnectSec float64 `json:"connect_seconds"`
	AckP50ms   float64 `json:"ack_p50_ms"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
func mib(b int64) float64        { return float64(b) / (1 << 20) }

func run(ctx context.Context, o options, log *slog.Logger) (*report, error) {
	dir := o.workDir
	if dir == "" {
		d, err := os.MkdirTemp("", "apiscale-")
		if err != nil {
			return nil, err
		}
		dir = d
		if !o.keep {
			defer os.RemoveAll(dir)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	l := &lodestone{bin: o.bin, dataDir: join(dir, "data"), dlDir: join(dir, "dl"), token: "apiscale-token-0123456789", port: port, log: join(dir, "daemon.log")}
	if o.pprofDir != "" {
		pp, err := freePort()
		if err != nil {
			return nil, err
		}
		l.pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
		if err := mkdirs(o.pprofDir); err != nil {
			return nil, err
		}
	}
	if err := mkdirs(l.dataDir, l.dlDir); err != nil {
		return nil, err
	}
	rep := &report{Tasks: o.tasks, WithData: min(o.withData, o.tasks), Lodestone: map[string]loadResult{}}

	// The aria2 comparison first, on an idle machine like Lodestone's.
	if o.aria2 != "" {
		res, err := runAria2(ctx, o, dir, log)
		if err != nil {
			return rep, fmt.Errorf("aria2: %w", err)
		}
		rep.Aria2 = res
	}

	log.Info("generating torrents", "n", o.tasks)
	datas := make([]string, o.tasks)
	var genErr error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < o.tasks; i += 2 {
				d := ""
				if i < rep.WithData {
					d = l.dlDir
				}
				b, err := genTorrent(i, fmt.Sprintf("t%05d.bin", i), 20000+i%1000, d)
				if err != nil {
					mu.Lock()
					genErr = err
					mu.Unlock()
					return
				}
				datas[i] = b
			}
		}()
	}
	wg.Wait()
	if genErr != nil {
		return rep, genErr
	}

	p, err := l.start()
	if err != nil {
		return rep, err
	}
	defer func() { p.stop(30 * time.Second) }()
	if _, err := l.waitServing(ctx, p, 30*time.Second); err != nil {
		return rep, err
	}
	time.Sleep(2 * time.Second)
	rssEmpty := rssBytes(p.pid())
	rep.RSSEmptyMiB = mib(rssEmpty)

	// Add every task, from several connections at once.
	log.Info("adding tasks", "n", o.tasks, "conns", o.addConns)
	stopProf := profile(l, o.pprofDir, "add", 10)
	t0 := time.Now()
	var next atomic.Int64
	errc := make(chan error, o.addConns)
	for range o.addConns {
		go func() {
			c, err := dial(ctx, l.url(), l.token)
			if err != nil {
				errc <- err
				return
			}
			defer c.close()
			// A bulk adder wants no events: with the default set, each of
			// the 8 connections receives every task's events and, on a
			// busy machine, can fall 1,024 behind and be cut off as too
			// slow (the daemon's bounded queue working as designed).
			if _, err := c.call(ctx, -1, []byte(`{"id":"-1","method":"events.subscribe","params":{"names":[]}}`)); err != nil {
				errc <- fmt.Errorf("events.subscribe: %w", err)
				return
			}
			for {
				i := int(next.Add(1) - 1)
				if i >= o.tasks {
					errc <- nil
					return
				}
				params := map[string]any{"type": "torrent", "data": datas[i], "paused": i >= rep.WithData}
				frame, _ := json.Marshal(map[string]any{"id": strconv.Itoa(i), "method": "task.add", "params": params})
				if _, err := c.call(ctx, i, frame); err != nil {
					errc <- fmt.Errorf("task.add %d: %w", i, err)
					return
				}
			}
		}()
	}
	for range o.addConns {
		if err := <-errc; err != nil {
			return rep, err
		}
	}
	rep.AddSeconds = time.Since(t0).Seconds()
	stopProf()
	datas = nil
	log.Info("added", "seconds", rep.AddSeconds)

	ctl, err := dial(ctx, l.url(), l.token)
	if err != nil {
		return rep, err
	}
	defer ctl.close()
	t1 := time.Now()
	if err := waitSettled(ctx, ctl, o.tasks, 3*time.Minute); err != nil {
		return rep, err
	}
	rep.SettleSeconds = time.Since(t1).Seconds()
	// Idle means the steady state: the adds' garbage collected and the
	// first completion checkpoint written.
	time.Sleep(idleAfter)
	rep.RSSLoadedMiB = mib(rssBytes(p.pid()))
	rep.RSSPerTaskKiB = float64(rssBytes(p.pid())-rssEmpty) / 1024 / float64(o.tasks)
	stopProf = profile(l, o.pprofDir, "idle", 5)
	rep.IdleCPUPercent = idleCPU(p.pid(), 5*time.Second)
	stopProf()

	// task.list, full and projected.
	stopProf = profile(l, o.pprofDir, "list", 10)
	rep.ListFull, err = measureList(ctx, ctl, nil, o.tasks, 20)
	if err != nil {
		return rep, err
	}
	rep.ListProjected, err = measureList(ctx, ctl, []string{"name", "state"}, o.tasks, 40)
	if err != nil {
		return rep, err
	}
	stopProf()

	// Small requests on one connection.
	id := taskID(ctx, ctl)
	get := func(i int) []byte {
		return []byte(`{"id":"` + strconv.Itoa(i) + `","method":"task.get","params":{"task_id":"` + id + `"}}`)
	}
	stats := func(i int) []byte { return []byte(`{"id":"` + strconv.Itoa(i) + `","method":"session.stats"}`) }
	rep.Lodestone["task.get sequential"] = ctl.sequential(ctx, get, 20000, o.dur)
	stopProf = profile(l, o.pprofDir, "get", 4)
	rep.Lodestone[fmt.Sprintf("task.get pipelined %d", o.window)] = ctl.pipelined(ctx, get, o.window, o.n, o.dur)
	stopProf()
	rep.Lodestone["session.stats sequential"] = ctl.sequential(ctx, stats, 20000, o.dur)
	stopProf = profile(l, o.pprofDir, "stats", 4)
	rep.Lodestone[fmt.Sprintf("session.stats pipelined %d", o.window)] = ctl.pipelined(ctx, stats, o.window, o.n, o.dur)
	stopProf()

	// Event delivery to many clients.
	stopProf = profile(l, o.pprofDir, "events", 10)
	rep.Events, err = measureEvents(ctx, l, ctl, o, rep.WithData)
	stopProf()
	if err != nil {
		return rep, err
	}

	// Restart.
	ctl.close()
	rep.StopSeconds = p.stop(60 * time.Second).Seconds()
	log.Info("restarting")
	if p, err = l.start(); err != nil {
		return rep, err
	}
	stopProf = profile(l, o.pprofDir, "restart", 6)
	serving, err := l.waitServing(ctx, p, 2*time.Minute)
	if err != nil {
		return rep, err
	}
	rep.RestartServing = serving.Seconds()
	if ctl, err = dial(ctx, l.url(), l.token); err != nil {
		return rep, err
	}
	if err := waitSettled(ctx, ctl, o.tasks, 3*time.Minute); err != nil {
		return rep, err
	}
	rep.RestartSettled = time.Since(p.start).Seconds()
	stopProf()
	time.Sleep(idleAfter)
	rss := rssBytes(p.pid())
	rep.RSSRestartMiB = mib(rss)
	rep.RSSPerTaskRKiB = float64(rss-rssEmpty) / 1024 / float64(o.tasks)
	rep.IdleCPURestart = idleCPU(p.pid(), 5*time.Second)
	rep.ListAfterRestart, err = measureList(ctx, ctl, []string{"name", "state"}, o.tasks, 20)
	return rep, err
}

// profile fetches a CPU profile of seconds from the daemon into
// dir/name.pprof in the background; the returned func waits for it.
func profile(l *lodestone, dir, name string, seconds int) func() {
	if dir == "" || l.pprofAddr == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The profiler may not be listening yet (right after a start).
		for range 100 {
			req, err := http.NewRequest("GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", l.pprofAddr, seconds), nil)
			if err != nil {
				return
			}
			// The profiler is behind the API's token.
			req.Header.Set("Authorization", "Bearer "+l.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, name+".pprof"))
			if err == nil {
				io.Copy(f, resp.Body)
				f.Close()
			}
			return
		}
	}()
	return func() { <-done }
}

// idleAfter is how long after the tasks settle idle CPU is measured.
const idleAfter = 10 * time.Second

func idleCPU(pid int, d time.Duration) float64 {
	c0 := cpuTime(pid)
	time.Sleep(d)
	return 100 * (cpuTime(pid) - c0).Seconds() / d.Seconds()
}

// waitSettled waits until session.stats counts n tasks, none checking.
func waitSettled(ctx context.Context, c *conn, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last api.SessionStats
	for i := 1; time.Now().Before(deadline); i++ {
		frame, err := c.call(ctx, i, []byte(`{"id":"`+strconv.Itoa(i)+`","method":"session.stats"}`))
		if err != nil {
			return err
		}
		var r struct {
			Result api.SessionStats `json:"result"`
		}
		if err := json.Unmarshal(frame, &r); err != nil {
			return err
		}
		last = r.Result
		if last.Tasks == n && last.TasksByState[api.StateChecking] == 0 && last.TasksByState[api.StateMetadata] == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not settled after %v: %+v", limit, last)
}

func taskID(ctx context.Context, c *conn) string {
	frame, err := c.call(ctx, 1, []byte(`{"id":"1","method":"task.list","params":{"fields":["name"]}}`))
	if err != nil {
		return ""
	}
	var r struct {
		Result struct {
			Tasks []struct {
				TaskID string `json:"task_id"`
			} `json:"tasks"`
		} `json:"result"`
	}
	json.Unmarshal(frame, &r)
	if len(r.Result.Tasks) == 0 {
		return ""
	}
	return r.Result.Tasks[len(r.Result.Tasks)/2].TaskID
}

// measureList runs task.list runs times, timing each from request to the
// whole response frame read; decoding is timed apart.
func measureList(ctx context.Context, c *conn, fields []string, want, runs int) (listResult, error) {
	params, _ := json.Marshal(api.TaskListParams{Fields: fields})
	var lat []time.Duration
	var dec []time.Duration
	res := listResult{Runs: runs}
	for i := range runs {
		frame := []byte(`{"id":"` + strconv.Itoa(i) + `","method":"task.list","params":` + string(params) + `}`)
		t0 := time.Now()
		data, err := c.call(ctx, i, frame)
		if err != nil {
			return res, err
		}
		lat = append(lat, time.Since(t0))
		res.Bytes = len(data)
		t1 := time.Now()
		var r struct {
			Result api.TaskListResult `json:"result"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return res, err
		}
		dec = append(dec, time.Since(t1))
		if len(r.Result.Tasks) != want {
			return res, fmt.Errorf("task.list: %d tasks, want %d", len(r.Result.Tasks), want)
		}
	}
	slices.Sort(lat)
	slices.Sort(dec)
	res.P50ms, res.MaxMs, res.DecodeMs = ms(pct(lat, 0.5)), ms(lat[len(lat)-1]), ms(pct(dec, 0.5))
	return res, nil
}

// measureEvents connects o.clients clients, then pauses o.rounds distinct
// running tasks one after the other, and times each client's receipt of
// each task.state event from the moment the task.pause request was sent.
func measureEvents(ctx context.Context, l *lodestone, ctl *conn, o options, withData int) (eventResult, error) {
	res := eventResult{Clients: o.clients, Rounds: o.rounds}
	// The tasks to pause: running ones (those with data are seeding).
	frame, err := ctl.call(ctx, 1, []byte(`{"id":"1","method":"task.list","params":{"state":"seeding","fields":["state"]}}`))
	if err != nil {
		return res, err
	}
	var lr struct {
		Result struct {
			Tasks []struct {
				TaskID string `json:"task_id"`
			} `json:"tasks"`
		} `json:"result"`
	}
	json.Unmarshal(frame, &lr)
	if len(lr.Result.Tasks) < o.rounds {
		return res, fmt.Errorf("events: %d seeding tasks, need %d", len(lr.Result.Tasks), o.rounds)
	}
	round := map[string]int{}
	for r := range o.rounds {
		round[lr.Result.Tasks[r].TaskID] = r
	}
	// got[client][round]: receipt time (unix ns), 0 until received.
	got := make([][]atomic.Int64, o.clients)
	var received atomic.Int64
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t0 := time.Now()
	conns := make([]*conn, o.clients)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var dialErr atomic.Value
	for i := range o.clients {
		got[i] = make([]atomic.Int64, o.rounds)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(cctx, l.url(), l.token)
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		for _, c := range conns {
			if c != nil {
				c.ws.CloseNow()
			}
		}
		return res, fmt.Errorf("connect %d clients: %w", o.clients, err)
	}
	res.ConnectSec = time.Since(t0).Seconds()
	defer func() {
		for _, c := range conns {
			c.ws.CloseNow()
		}
	}()
	for i, c := range conns {
		go func() {
			for {
				_, data, err := c.ws.Read(cctx)
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				var ev struct {
					Name string            `json:"name"`
					Data api.TaskStateData `json:"data"`
				}
				if json.Unmarshal(data, &ev) != nil || ev.Name != api.EventTaskState || ev.Data.To != api.StatePaused {
					continue
				}
				if r, ok := round[ev.Data.TaskID]; ok && got[i][r].Load() == 0 {
					got[i][r].Store(now)
					received.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second) // let every reader start
	sent := make([]int64, o.rounds)
	var acks []time.Duration
	for r := range o.rounds {
		id := lr.Result.Tasks[r].TaskID
		want := int64((r + 1) * o.clients)
		start := time.Now()
		sent[r] = start.UnixNano()
		if _, err := ctl.call(ctx, 100+r, []byte(`{"id":"`+strconv.Itoa(100+r)+`","method":"task.pause","params":{"task_id":"`+id+`"}}`)); err != nil {
			return res, err
		}
		acks = append(acks, time.Since(start))
		for received.Load() < want && time.Since(start) < 10*time.Second {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var lat []time.Duration
	for i := range conns {
		for r := range o.rounds {
			if at := got[i][r].Load(); at != 0 {
				lat = append(lat, time.Duration(at-sent[r]))
			} else {
				res.Missing++
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(acks)
	res.Deliveries = len(lat)
	res.AckP50ms = ms(pct(acks, 0.5))
	if len(lat) > 0 {
		res.P50ms, res.P99ms, res.MaxMs = ms(pct(lat, 0.5)), ms(pct(lat, 0.99)), ms(lat[len(lat)-1])
	}
	// Resume them, so a restart finds them as before.
	for r := range o.rounds {
		id := lr.Result.Tasks[r].TaskID
		ctl.call(ctx, 200+r, []byte(`{"id":"`+strconv.Itoa(200+r)+`","method":"task.resume","params":{"task_id":"`+id+`"}}`))
	}
	return res, nil
}
