package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Cluster mode (issue 20) end to end: in-process daemons whose embedded
// NATS servers are routed into one JetStream cluster on loopback.

// clusterOptions are the options of n nodes "a", "b", … with embedded
// NATS servers routed to each other, failing over after failover.
func clusterOptions(t testing.TB, n int, failover time.Duration) []daemontest.Options {
	ports := make([]int, n)
	for i := range ports {
		ports[i] = natsnodetest.FreePort(t)
	}
	opts := make([]daemontest.Options, n)
	for i := range opts {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		id := string(rune('a' + i))
		opts[i].Configure = func(c *daemon.Config) {
			c.Cluster = cluster.Config{
				Embedded: true, NodeID: id, Name: "test",
				Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes,
				FailoverAfter: failover,
			}
		}
	}
	return opts
}

// seedAll runs one libtorrent seeder for every torrent and returns its
// address.
func seedAll(t *testing.T, trs []*enginetest.Torrent) string {
	t.Helper()
	var list strings.Builder
	for _, tr := range trs {
		fmt.Fprintf(&list, "%s\t%s\n", enginetest.WriteTorrentFile(t, tr), tr.Root)
	}
	path := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(path, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	lines := enginetest.LibtorrentPeer(t, ctx, "seed", path, "-")
	port := strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
	enginetest.WaitLine(t, lines, "seeding", 120*time.Second)
	return "127.0.0.1:" + port
}

// TestClusterThreeNodes: 30 tasks added through node a spread over the
// three nodes and download from a libtorrent seeder; task.list on node c
// shows all 30 with their node and progress; every byte is right; and
// events.replay from 0 on node b has every task.finished exactly once.
func TestClusterThreeNodes(t *testing.T) {
	const n = 30
	trs := make([]*enginetest.Torrent, n)
	for i := range trs {
		trs[i] = enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("c%02d.bin", i), Size: 256<<10 + int64(i)*4099, Seed: uint64(100 + i)})
	}
	seeder := seedAll(t, trs)
	nodes := daemontest.StartAll(t, clusterOptions(t, 3, 10*time.Second)...)
	ca, cc := nodes[0].Client(t), nodes[2].Client(t)

	byID := map[string]*enginetest.Torrent{}
	placed := map[string]int{}
	for _, tr := range trs {
		res := addMagnet(t, ca, tr.Magnet([]string{seeder}))
		if res.Node == "" {
			t.Fatalf("task.add in a cluster answered no node: %+v", res)
		}
		byID[res.TaskID] = tr
		placed[res.Node]++
	}
	t.Logf("placed: %v", placed)
	for _, id := range []string{"a", "b", "c"} {
		if placed[id] == 0 {
			t.Errorf("node %s got none of %d tasks: %v", id, n, placed)
		}
	}
	waitUntilAPI(t, "all 30 finished in node c's merged task.list", 3*time.Minute, func() bool {
		tasks := listTasks(t, cc)
		done := 0
		for _, task := range tasks {
			if task.Node == "" {
				t.Fatalf("task %s has no node in the merged list", task.TaskID)
			}
			if task.Size > 0 && task.Completed == task.Size {
				done++
			}
		}
		return len(tasks) == n && done == n
	})
	dirs := map[string]string{"a": nodes[0].Dirs.Download, "b": nodes[1].Dirs.Download, "c": nodes[2].Dirs.Download}
	for _, task := range listTasks(t, cc) {
		tr := byID[task.TaskID]
		if tr == nil {
			t.Fatalf("task.list has a task no one added: %s", task.TaskID)
		}
		if placed[task.Node] == 0 {
			t.Errorf("task %s is listed on node %s, where nothing was placed", task.TaskID, task.Node)
		}
		enginetest.SameFiles(t, tr, dirs[task.Node])
	}
	finished := replayCount(t, nodes[1], api.EventTaskFinished)
	if len(finished) != n {
		t.Errorf("events.replay on node b has task.finished for %d tasks, want %d", len(finished), n)
	}
	for id, k := range finished {
		if k != 1 {
			t.Errorf("task %s: %d task.finished events, want exactly 1", id, k)
		}
		if byID[id] == nil {
			t.Errorf("task.finished for a task no one added: %s", id)
		}
	}
	sameReplay(t, nodes[0], nodes[1], nodes[2])
	// A file of a task on another node streams through node a, Range
	// and all.
	fa := newFiles(t, nodes[0])
	streamed := 0
	for _, task := range listTasks(t, cc) {
		if task.Node == "a" || streamed == 2 {
			continue
		}
		streamed++
		tr := byID[task.TaskID]
		want, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
		if err != nil {
			t.Fatal(err)
		}
		resp, body := fa.do(t, "GET", fa.fileURL(task.TaskID, tr.Name), "Range", "bytes=100-9999")
		if resp.StatusCode != 206 || !bytes.Equal(body, want[100:10000]) {
			t.Fatalf("GET /files of a task on node %s through node a: %s, %d bytes, same: %v", task.Node, resp.Status, len(body), bytes.Equal(body, want[100:10000]))
		}
	}
	if streamed == 0 {
		t.Fatal("no task on another node than a to stream")
	}
	// A task of another node answers through any node.
	for id := range byID {
		var got api.Task
		if err := ca.Call(ctxT(t, 10*time.Second), api.MethodTaskGet, api.TaskGetParams{TaskID: id}, &got); err != nil {
			t.Fatalf("task.get %s through node a: %v", id, err)
		}
		if got.TaskID != id || got.Node == "" {
			t.Fatalf("task.get through node a: %+v", got)
		}
	}
}

// replayCount replays every logged event through a new client of d and
// counts the events named name by task.
func replayCount(t *testing.T, d *daemontest.Daemon, name string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, ev := range replayAll(t, d) {
		if ev.Name != name {
			continue
		}
		var data struct {
			TaskID string `json:"task_id"`
		}
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatal(err)
		}
		counts[data.TaskID]++
	}
	return counts
}

// sameReplay checks that events.replay from 0 through each daemon gives
// the same events, ids increasing, none twice.
func sameReplay(t *testing.T, ds ...*daemontest.Daemon) {
	t.Helper()
	var first []api.Event
	for i, d := range ds {
		evs := replayAll(t, d)
		var last uint64
		for _, ev := range evs {
			id, err := strconv.ParseUint(ev.ID, 10, 64)
			if err != nil || id <= last {
				t.Fatalf("replay through node %d: id %q after %d", i, ev.ID, last)
			}
			last = id
		}
		if i == 0 {
			first = evs
			continue
		}
		// Replays taken one after the other: the later may have more.
		if len(evs) < len(first) {
			t.Fatalf("replay through node %d has %d events, node 0's had %d", i, len(evs), len(first))
		}
		for j := range first {
			if evs[j].ID != first[j].ID || evs[j].Name != first[j].Name || !bytes.Equal(evs[j].Data, first[j].Data) {
				t.Fatalf("replays differ at %d: %+v vs %+v", j, evs[j], first[j])
			}
		}
	}
}
