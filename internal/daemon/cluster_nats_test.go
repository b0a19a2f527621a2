package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Cluster mode (issue 20) when NATS fails: the server leading the
// streams restarts, and a node loses its connection. The NATS servers run
// in the test process; the daemons are their external clients, as in a
// deployment with its own NATS.

// natsServers are three embedded NATS servers routed into one JetStream
// cluster, each restartable on its store dir and ports.
type natsServers struct {
	t     *testing.T
	opts  []natsnode.Options
	urls  []string
	mu    sync.Mutex
	nodes []*natsnode.Node
}

func startNATSServers(t *testing.T, name string) *natsServers {
	t.Helper()
	ports := []int{natsnodetest.FreePort(t), natsnodetest.FreePort(t), natsnodetest.FreePort(t)}
	s := &natsServers{t: t, nodes: make([]*natsnode.Node, 3)}
	log := slog.New(slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i := range 3 {
		o := natsnodetest.Options(t, name, i, ports)
		o.Listen = fmt.Sprintf("127.0.0.1:%d", natsnodetest.FreePort(t))
		o.Logger = log.With("server", o.Name)
		s.opts = append(s.opts, o)
		s.urls = append(s.urls, "nats://"+o.Listen)
	}
	// Cleanups run last registered first: the servers stop after the
	// daemons that use them.
	t.Cleanup(func() {
		for i := range s.nodes {
			s.stop(i)
		}
	})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); s.start(i) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return s
}

// start starts server i (again, on the same store dir and ports).
func (s *natsServers) start(i int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := natsnode.Start(ctx, s.opts[i])
	if err != nil {
		s.t.Errorf("start NATS server %d: %v", i, err)
		return
	}
	s.mu.Lock()
	s.nodes[i] = n
	s.mu.Unlock()
}

// stop shuts server i down.
func (s *natsServers) stop(i int) {
	s.mu.Lock()
	n := s.nodes[i]
	s.nodes[i] = nil
	s.mu.Unlock()
	if n != nil {
		n.Shutdown()
	}
}

// leader returns the index of the server leading stream, asked of the
// running servers through JetStream's stream info.
func (s *natsServers) leader(stream string) int {
	s.t.Helper()
	var name string
	waitUntilAPI(s.t, "a leader of "+stream, 30*time.Second, func() bool {
		s.mu.Lock()
		nodes := slices.Clone(s.nodes)
		s.mu.Unlock()
		for _, n := range nodes {
			if n == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			st, err := n.JS.Stream(ctx, stream)
			cancel()
			if err != nil {
				continue
			}
			if c := st.CachedInfo().Cluster; c != nil && c.Leader != "" {
				name = c.Leader
				return true
			}
		}
		return false
	})
	for i, o := range s.opts {
		if o.Name == name {
			return i
		}
	}
	s.t.Fatalf("the leader of %s, %q, is not one of the test's servers", stream, name)
	return -1
}

// settled waits until stream has a leader and every replica is current:
// the restarted server has caught up.
func (s *natsServers) settled(stream string) {
	s.t.Helper()
	waitUntilAPI(s.t, stream+" has a leader and current replicas", 60*time.Second, func() bool {
		s.mu.Lock()
		n := s.nodes[0]
		s.mu.Unlock()
		if n == nil {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := n.JS.Stream(ctx, stream)
		if err != nil {
			return false
		}
		c := st.CachedInfo().Cluster
		if c == nil || c.Leader == "" || len(c.Replicas) != 2 {
			return false
		}
		for _, r := range c.Replicas {
			if !r.Current || r.Offline {
				return false
			}
		}
		return true
	})
}

// externalNATSOptions are the options of nodes a, b, … that are clients
// of the NATS servers at urls[i] (each node's own list of servers).
func externalNATSOptions(urls [][]string, failover time.Duration) []daemontest.Options {
	opts := make([]daemontest.Options, len(urls))
	for i := range opts {
		id := string(rune('a' + i))
		opts[i].Configure = func(c *daemon.Config) {
			c.Cluster = cluster.Config{URLs: urls[i], NodeID: id, Name: "test", FailoverAfter: failover}
		}
	}
	return opts
}

// startStaggered starts the first node, which creates the cluster's
// streams and buckets, then the others together. Nodes that create the
// same replicated stream at once can wait out the create's 10 s bound
// (bus.streamAttempt) several times over: 40 s was seen where a staggered
// start takes a few seconds.
func startStaggered(t *testing.T, opts []daemontest.Options) []*daemontest.Daemon {
	t.Helper()
	start := time.Now()
	nodes := daemontest.StartAll(t, opts[0])
	nodes = append(nodes, daemontest.StartAll(t, opts[1:]...)...)
	t.Logf("%d nodes started in %v", len(nodes), time.Since(start).Round(time.Millisecond))
	return nodes
}

// randomMagnet is a magnet of a random info-hash: a task that needs no
// swarm while it stays paused.
func randomMagnet() (string, string) {
	b := make([]byte, 20)
	rand.Read(b)
	id := hex.EncodeToString(b)
	return id, "magnet:?xt=urn:btih:" + id
}

// codeOf is err's API code, 0 for an error that has none (the call did
// not get an answer).
func codeOf(err error) api.Code {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// history is what a load worker was answered, task by task.
type history struct {
	mu sync.Mutex
	// added are the tasks whose task.add answered OK; tried are those
	// whose task.add failed (they may or may not exist).
	added, tried map[string]bool
	// paused is each added task's state by its last acknowledged
	// pause/resume (its add: paused); unsure marks the tasks whose last
	// pause/resume failed, so either state is right.
	paused, unsure map[string]bool
	// calls and failures count the calls by method, and the failures by
	// method and code.
	calls    map[string]int
	failures map[string]int
	// log has the first failures in words, for the test's log.
	start time.Time
	log   []string
}

func newHistory() *history {
	return &history{added: map[string]bool{}, tried: map[string]bool{}, paused: map[string]bool{},
		unsure: map[string]bool{}, calls: map[string]int{}, failures: map[string]int{}, start: time.Now()}
}

func (h *history) record(node int, method, id string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[method]++
	if err != nil {
		h.failures[fmt.Sprintf("%s:%d", method, codeOf(err))]++
		if len(h.log) < 40 {
			h.log = append(h.log, fmt.Sprintf("%.1fs node %c %s %.8s: %v", time.Since(h.start).Seconds(), 'a'+node, method, id, err))
		}
	}
	switch {
	case method == api.MethodTaskAdd && err == nil:
		h.added[id], h.paused[id] = true, true
	case method == api.MethodTaskAdd:
		h.tried[id] = true
	case err != nil:
		h.unsure[id] = true
	default:
		h.paused[id], h.unsure[id] = method == api.MethodTaskPause, false
	}
}

// loadWorker adds paused tasks and pauses and resumes its own tasks, each
// call through the next of clients, until ctx ends. Its tasks are its
// own, so each task's calls are one after the other and the last
// answered one is well defined.
func loadWorker(ctx context.Context, t *testing.T, clients []*client.Client, first int, h *history, maxTasks int) {
	var mine []string
	for k := first; ctx.Err() == nil; k++ {
		node := k % len(clients)
		c := clients[node]
		cctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		r, _ := rand.Int(rand.Reader, big.NewInt(10))
		if len(mine) < 3 || len(mine) < maxTasks && r.Int64() < 4 {
			id, uri := randomMagnet()
			res, err := c.AddTask(cctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true})
			if err == nil && res.TaskID != id {
				t.Errorf("task.add answered task %s for %s", res.TaskID, id)
			}
			h.record(node, api.MethodTaskAdd, id, err)
			if err == nil {
				mine = append(mine, id)
			}
		} else {
			// Half the time the task just added: its next call goes
			// through another node than its add.
			j, _ := rand.Int(rand.Reader, big.NewInt(int64(2*len(mine))))
			id := mine[min(j.Int64(), int64(len(mine)-1))]
			method, call := api.MethodTaskPause, c.PauseTask
			if r.Int64()%2 == 0 {
				method, call = api.MethodTaskResume, c.ResumeTask
			}
			h.record(node, method, id, call(cctx, id))
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Millisecond):
		}
	}
}

// TestClusterNATSLeaderRestart: three daemons are clients of three NATS
// servers. While they add tasks and pause and resume them through every
// node, the server leading the command stream is shut down and started
// again on its store, then the one leading the task list. Calls during an
// election may fail with an API error; none answered OK is lost: every
// acknowledged add is in the merged task.list exactly once, and each
// task's state is its last acknowledged pause or resume.
func TestClusterNATSLeaderRestart(t *testing.T) {
	srv := startNATSServers(t, "natsrestart")
	opts := externalNATSOptions([][]string{srv.urls, srv.urls, srv.urls}, 10*time.Second)
	nodes := startStaggered(t, opts)
	clients := []*client.Client{nodes[0].Client(t), nodes[1].Client(t), nodes[2].Client(t)}

	h := newHistory()
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); loadWorker(ctx, t, clients, i, h, 40) }()
	}
	defer func() { stopLoad(); wg.Wait() }()

	time.Sleep(3 * time.Second)
	for _, stream := range []string{"LODESTONE_CMD", "KV_lodestone_tasks"} {
		l := srv.leader(stream)
		t.Logf("%.1fs %s: its leader, server %d, shut down", time.Since(h.start).Seconds(), stream, l)
		down := time.Now()
		srv.stop(l)
		time.Sleep(4 * time.Second)
		srv.start(l)
		if t.Failed() {
			t.FailNow()
		}
		t.Logf("%s: server %d back after %v", stream, l, time.Since(down).Round(time.Millisecond))
		srv.settled(stream)
		t.Logf("%s: replicas current %v after the shutdown", stream, time.Since(down).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
	}
	stopLoad()
	wg.Wait()

	h.mu.Lock()
	defer h.mu.Unlock()
	t.Logf("calls: %v; failed (method:code): %v; added %d, failed adds %d", h.calls, h.failures, len(h.added), len(h.tried))
	for _, l := range h.log {
		t.Logf("failed: %s", l)
	}
	if len(h.added) < 20 {
		t.Fatalf("only %d adds were acknowledged: the load did not run", len(h.added))
	}
	// A call may fail while the servers elect, saying so: 215 (the
	// task's node did not answer) or 216 (the cluster did not). Not
	// "internal", not "task not found" for a task whose add was
	// acknowledged, not without an answer.
	for k, count := range h.failures {
		_, code, _ := strings.Cut(k, ":")
		if code != fmt.Sprint(int(api.CodeNodeUnavailable)) && code != fmt.Sprint(int(api.CodeClusterUnavailable)) {
			t.Errorf("calls failed without a clear error code (method:code %s, %d times)", k, count)
		}
	}
	var last string
	settle := time.Now()
	waitUntilWhy(t, "every acknowledged add listed once, in its last acknowledged state", 60*time.Second, func() bool {
		for i, c := range clients {
			tasks, err := c.ListTasks(ctxT(t, 15*time.Second))
			if err != nil {
				last = fmt.Sprintf("task.list on node %d: %v", i, err)
				return false
			}
			if last = checkTasks(tasks, h); last != "" {
				last = fmt.Sprintf("node %d: %s", i, last)
				return false
			}
		}
		return true
	}, func() string { return last })
	t.Logf("settled %v after the load stopped", time.Since(settle).Round(time.Millisecond))
}

// checkTasks compares a merged task list with what the load was
// answered: "" when they agree, else the first differences.
func checkTasks(tasks []api.Task, h *history) string {
	var diffs []string
	seen := map[string]int{}
	for _, task := range tasks {
		seen[task.TaskID]++
		id := task.TaskID
		switch {
		case !h.added[id] && !h.tried[id]:
			diffs = append(diffs, fmt.Sprintf("task %s on %s was never added", id, task.Node))
		case h.added[id] && !h.unsure[id] && (task.State == api.StatePaused) != h.paused[id]:
			diffs = append(diffs, fmt.Sprintf("task %s on %s is %s, its last acknowledged call asked paused=%v", id, task.Node, task.State, h.paused[id]))
		}
	}
	for id := range h.added {
		if seen[id] != 1 {
			diffs = append(diffs, fmt.Sprintf("acknowledged task %s is listed %d times", id, seen[id]))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

// waitUntilWhy is waitUntilAPI whose failure says why, in why's words.
func waitUntilWhy(t *testing.T, what string, timeout time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, timeout, why())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tcpProxy forwards connections from a loopback port to target; cut
// closes the listener and every connection, restore listens on the same
// port again. It stands for the network between a node and NATS.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	wg     sync.WaitGroup
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]struct{}{}}
	p.restore()
	t.Cleanup(func() { p.cut(); p.wg.Wait() })
	return p
}

// restore listens again, on the port of the first listen.
func (p *tcpProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen %s: %v", p.addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.forward(c) }()
		}
	}()
}

func (p *tcpProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) { io.Copy(dst, src); dst.Close(); src.Close(); done <- struct{}{} }
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// track registers a connection pair, or closes it if the proxy was cut
// meanwhile.
func (p *tcpProxy) track(c, up net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		up.Close()
		return false
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	return true
}

// cut closes the listener and every connection through the proxy.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// clusterStatus is cluster.status through c.
func clusterStatus(t *testing.T, c *client.Client) api.ClusterStatusResult {
	t.Helper()
	var st api.ClusterStatusResult
	if err := c.Call(ctxT(t, 10*time.Second), api.MethodClusterStatus, struct{}{}, &st); err != nil {
		t.Fatalf("cluster.status: %v", err)
	}
	return st
}

// sameFile reports whether tr's single file is complete and right under
// dir.
func sameFile(tr *enginetest.Torrent, dir string) bool {
	got, err := os.ReadFile(filepath.Join(dir, tr.Name))
	if err != nil {
		return false
	}
	want, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
	return err == nil && bytes.Equal(got, want)
}

// TestClusterPartition: node c reaches NATS through a proxy that the test
// cuts. c then refuses cluster work with 216 and says why, cluster.status
// says it is not connected, an engine.alert says the connection is lost,
// and its own task keeps downloading. a and b go on, and once c's
// heartbeat has expired its tasks are placed on them (task.moved). When
// the proxy is back, c reconnects, takes task.add again and drops the
// tasks that moved, keeping their data; every node's merged task.list
// has each task exactly once, on the same node.
func TestClusterPartition(t *testing.T) {
	const failover = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	nats, err := natsnode.Start(ctx, natsnode.Options{Name: "n0", StoreDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nats.Shutdown)
	proxy := startCutProxy(t, strings.TrimPrefix(nats.ClientURL(), "nats://"))
	direct := []string{nats.ClientURL()}
	nodes := startStaggered(t, externalNATSOptions([][]string{direct, direct, {"nats://" + proxy.addr}}, failover))
	ca, cb, cc := nodes[0].Client(t), nodes[1].Client(t), nodes[2].Client(t)

	// c's tasks: one that will download while c is cut off, three paused.
	tr := enginetest.Generate(t, enginetest.Content{Name: "partition.bin", Size: 1<<20 + 4099, Seed: 20})
	onC := map[string]bool{}
	res, err := cc.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet(nil), Node: "c"})
	if err != nil || res.Node != "c" {
		t.Fatalf("task.add pinned to c: %+v, %v", res, err)
	}
	onC[res.TaskID] = true
	for range 3 {
		_, uri := randomMagnet()
		res, err := ca.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true, Node: "c"})
		if err != nil || res.Node != "c" {
			t.Fatalf("task.add pinned to c: %+v, %v", res, err)
		}
		onC[res.TaskID] = true
	}
	// Placed tasks, paused; those placed on c move with c's own.
	all := maps.Clone(onC)
	for range 4 {
		_, uri := randomMagnet()
		res, err := cb.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true})
		if err != nil {
			t.Fatalf("task.add through b: %v", err)
		}
		all[res.TaskID], onC[res.TaskID] = true, res.Node == "c"
	}
	maps.DeleteFunc(onC, func(_ string, on bool) bool { return !on })

	proxy.cut()
	cut := time.Now()
	t.Log("c's connection to NATS cut")
	waitUntilAPI(t, "cluster.status on c says not connected", 15*time.Second, func() bool {
		return !clusterStatus(t, cc).Connected
	})
	t.Logf("c knows it is cut off after %v", time.Since(cut).Round(time.Millisecond))
	_, uri := randomMagnet()
	_, err = cc.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true})
	var ae *api.Error
	if !asCode(err, &ae, api.CodeClusterUnavailable) || !strings.Contains(ae.Message, "connection") {
		t.Fatalf("task.add on c while cut off: %v; want code %d saying the connection is lost", err, api.CodeClusterUnavailable)
	}
	ev := waitEvent(t, cc, api.EventEngineAlert, 15*time.Second, func(d json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(d, &a) == nil && strings.Contains(a.Message, "connection to the cluster lost")
	})
	t.Logf("c's client was told: %s", ev.Data)

	// c's own task downloads meanwhile: the seeder, which no one knew of,
	// dials it.
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	waitUntilAPI(t, "c's task downloads while c is cut off", 60*time.Second, func() bool {
		if sameFile(tr, nodes[2].Dirs.Download) {
			return true
		}
		seeder.AddPeer(peerAddr(t, nodes[2]))
		time.Sleep(500 * time.Millisecond)
		return false
	})
	t.Logf("c's task downloaded while cut off, %v after the cut", time.Since(cut).Round(time.Millisecond))

	// a and b place c's tasks on themselves once its heartbeat expired.
	moved := map[string]string{}
	deadline := time.After(failover + 20*time.Second)
	for len(moved) < len(onC) {
		select {
		case ev := <-ca.Events():
			if ev.Name != api.EventTaskMoved {
				continue
			}
			var m api.TaskMovedData
			if err := json.Unmarshal(ev.Data, &m); err != nil {
				t.Fatal(err)
			}
			if !onC[m.TaskID] || m.From != "c" || m.To == "c" || m.Reason != "node_down" {
				t.Fatalf("unexpected task.moved: %s", ev.Data)
			}
			moved[m.TaskID] = m.To
		case <-deadline:
			t.Fatalf("task.moved for %d of c's %d tasks within %v of the cut", len(moved), len(onC), failover+20*time.Second)
		}
	}
	t.Logf("c's tasks moved %v after the cut: %v", time.Since(cut).Round(time.Millisecond), moved)
	for range 2 {
		_, uri := randomMagnet()
		res, err := ca.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true})
		if err != nil {
			t.Fatalf("task.add through a while c is cut off: %v", err)
		}
		if res.Node == "c" {
			t.Fatalf("task.add placed a task on c, cut off: %+v", res)
		}
		all[res.TaskID] = true
	}

	proxy.restore()
	back := time.Now()
	waitUntilAPI(t, "cluster.status on c says connected", 30*time.Second, func() bool {
		return clusterStatus(t, cc).Connected
	})
	t.Logf("c reconnected %v after the proxy came back", time.Since(back).Round(time.Millisecond))
	// Connected again means working again: the first task.add is placed.
	_, uri = randomMagnet()
	res, err = cc.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: uri, Paused: true})
	if err != nil {
		t.Fatalf("task.add on c once it says it is connected again: %v", err)
	}
	all[res.TaskID] = true
	var why string
	waitUntilWhy(t, "every node's merged task.list has each task once, on the same node", 60*time.Second, func() bool {
		var first map[string]string
		for i, c := range []*client.Client{ca, cb, cc} {
			tasks, err := c.ListTasks(ctxT(t, 15*time.Second))
			if err != nil {
				why = fmt.Sprintf("task.list on node %d: %v", i, err)
				return false
			}
			on := map[string]string{}
			for _, task := range tasks {
				if prev, ok := on[task.TaskID]; ok {
					why = fmt.Sprintf("node %d lists task %s on %s and %s", i, task.TaskID, prev, task.Node)
					return false
				}
				if !all[task.TaskID] {
					why = fmt.Sprintf("node %d lists task %s, which no one added", i, task.TaskID)
					return false
				}
				on[task.TaskID] = task.Node
				if to, ok := moved[task.TaskID]; ok && task.Node != to {
					why = fmt.Sprintf("node %d lists moved task %s on %s, want %s", i, task.TaskID, task.Node, to)
					return false
				}
				if task.TaskID != tr.InfoHash && task.State != api.StatePaused {
					why = fmt.Sprintf("task %s, added paused, is %s on %s", task.TaskID, task.State, task.Node)
					return false
				}
			}
			if len(on) != len(all) {
				why = fmt.Sprintf("node %d lists %d tasks, want %d", i, len(on), len(all))
				return false
			}
			if first != nil && !maps.Equal(first, on) {
				why = fmt.Sprintf("node %d's list differs from node a's", i)
				return false
			}
			first = on
		}
		return true
	}, func() string { return why })
	t.Logf("one list on every node %v after the proxy came back", time.Since(back).Round(time.Millisecond))
	if !sameFile(tr, nodes[2].Dirs.Download) {
		t.Errorf("c dropped its moved task's data")
	}
}
