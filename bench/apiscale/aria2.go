package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"time"
)

// runAria2 starts aria2c with its RPC on loopback, gives it one seeding
// torrent (so aria2.tellActive returns one download), and runs the same
// sequential and pipelined loads as for Lodestone.
func runAria2(ctx context.Context, o options, dir string, log *slog.Logger) (map[string]loadResult, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	btPort, err := freePort()
	if err != nil {
		return nil, err
	}
	adir := join(dir, "aria2")
	if err := mkdirs(adir); err != nil {
		return nil, err
	}
	p, err := startProc(join(dir, "aria2.log"), o.aria2,
		"--no-conf", "--enable-rpc", "--rpc-listen-all=false", "--rpc-listen-port="+strconv.Itoa(port),
		"--dir="+adir, "--quiet=true",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--disable-ipv6=true", "--listen-port="+strconv.Itoa(btPort), "--seed-ratio=0.0",
		"--bt-seed-unverified=true", "--auto-save-interval=0", "--save-session-interval=0")
	if err != nil {
		return nil, err
	}
	defer p.stop(10 * time.Second)
	url := fmt.Sprintf("ws://127.0.0.1:%d/jsonrpc", port)
	var c *conn
	for range 200 {
		if c, err = dial(ctx, url, ""); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("dial aria2: %w", err)
	}
	defer c.close()
	// One torrent with its data present: it seeds, so it is active.
	data, err := genTorrent(999999, "aria2-seed.bin", 20000, adir)
	if err != nil {
		return nil, err
	}
	if _, err := c.call(ctx, 1, []byte(`{"jsonrpc":"2.0","id":"1","method":"aria2.addTorrent","params":["`+data+`",[],{"dir":"`+adir+`"}]}`)); err != nil {
		return nil, err
	}
	// Wait until it shows as active.
	for i := 2; i < 200; i++ {
		frame, err := c.call(ctx, i, []byte(`{"jsonrpc":"2.0","id":"`+strconv.Itoa(i)+`","method":"aria2.tellActive","params":[]}`))
		if err != nil {
			return nil, err
		}
		var r struct {
			Result []json.RawMessage `json:"result"`
		}
		json.Unmarshal(frame, &r)
		if len(r.Result) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	req := func(method string) func(int) []byte {
		return func(i int) []byte {
			return []byte(`{"jsonrpc":"2.0","id":"` + strconv.Itoa(i) + `","method":"` + method + `","params":[]}`)
		}
	}
	out := map[string]loadResult{}
	for _, m := range []string{"aria2.getGlobalStat", "aria2.tellActive"} {
		out[m+" sequential"] = c.sequential(ctx, req(m), 20000, o.dur)
		out[fmt.Sprintf("%s pipelined %d", m, o.window)] = c.pipelined(ctx, req(m), o.window, o.n, o.dur)
		log.Info("aria2", "method", m, "seq", out[m+" sequential"].PerSec)
	}
	return out, nil
}

// printReport writes the report as markdown tables.
func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "## API at %d tasks (%d with data on disk, the rest paused)\n\n", r.Tasks, r.WithData)
	fmt.Fprintf(w, "| measure | result |\n|---|---|\n")
	row := func(k, f string, a ...any) { fmt.Fprintf(w, "| %s | %s |\n", k, fmt.Sprintf(f, a...)) }
	row("adding the tasks (task.add, 8 connections)", "%.1f s", r.AddSeconds)
	row("then until none is checking", "%.1f s", r.SettleSeconds)
	row("task.list full", "p50 %.1f ms, max %.1f ms, %d KiB (Go decode %.1f ms)", r.ListFull.P50ms, r.ListFull.MaxMs, r.ListFull.Bytes>>10, r.ListFull.DecodeMs)
	row("task.list fields [name, state]", "p50 %.1f ms, max %.1f ms, %d KiB (Go decode %.1f ms)", r.ListProjected.P50ms, r.ListProjected.MaxMs, r.ListProjected.Bytes>>10, r.ListProjected.DecodeMs)
	row("RSS empty / loaded / after restart", "%.1f / %.1f / %.1f MiB", r.RSSEmptyMiB, r.RSSLoadedMiB, r.RSSRestartMiB)
	row("RSS per task (loaded / after restart)", "%.1f / %.1f KiB", r.RSSPerTaskKiB, r.RSSPerTaskRKiB)
	row("idle CPU with all tasks (loaded / after restart)", "%.1f %% / %.1f %% of one core", r.IdleCPUPercent, r.IdleCPURestart)
	row("stop (SIGTERM to exit)", "%.2f s", r.StopSeconds)
	row("restart to serving (exec to first answer)", "%.2f s", r.RestartServing)
	row("restart to settled (no task checking)", "%.2f s", r.RestartSettled)
	row("task.list [name, state] after restart", "p50 %.1f ms, max %.1f ms", r.ListAfterRestart.P50ms, r.ListAfterRestart.MaxMs)
	e := r.Events
	row(fmt.Sprintf("events: %d clients × %d task.pause", e.Clients, e.Rounds), "delivery p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d delivered, %d missing; pause answered p50 %.1f ms; connecting took %.1f s",
		e.P50ms, e.P99ms, e.MaxMs, e.Deliveries, e.Missing, e.AckP50ms, e.ConnectSec)
	fmt.Fprintf(w, "\n| one connection | req/s | p50 µs | p99 µs | max µs | errors |\n|---|---|---|---|---|---|\n")
	for _, set := range []struct {
		name string
		m    map[string]loadResult
	}{{"lodestone", r.Lodestone}, {"aria2", r.Aria2}} {
		keys := make([]string, 0, len(set.m))
		for k := range set.m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := set.m[k]
			fmt.Fprintf(w, "| %s %s | %.0f | %.0f | %.0f | %.0f | %d |\n", set.name, k, v.PerSec, v.P50us, v.P99us, v.MaxUs, v.Errors)
		}
	}
}
