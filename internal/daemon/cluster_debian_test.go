package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// TestClusterDebianNATS: three daemons are the nodes of a cluster whose
// NATS is Debian's nats-server (2.9.10, older than the limit markers
// membership prefers) run as an external cluster of three servers that
// require a user and password. Six tasks added through node a, placed over
// the nodes and downloading from an in-process seeder, all finish with
// every byte right, and task.list on node c shows the six with their nodes.
// Then the server leading the command stream is killed while six more
// tasks are added and three paused through node a, and started again:
// every acknowledged add finishes and every acknowledged pause holds.
func TestClusterDebianNATS(t *testing.T) {
	const user, pass = "lodestone", "debian-s3cret"
	srv := natsnodetest.DebianCluster(t, 3, natsnodetest.DebianOptions{User: user, Password: pass})
	t.Logf("%s at %v", srv.Version(), srv.URLs)
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	const n = 6
	trs := make([]*enginetest.Torrent, n)
	for i := range trs {
		trs[i] = enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("deb%d.bin", i), Size: 200<<10 + int64(i)*3001, Seed: uint64(600 + i)})
		seeder.Seed(t, trs[i])
	}
	opts := make([]daemontest.Options, 3)
	for i := range opts {
		id := string(rune('a' + i))
		// Every node is given every server, as --cluster takes them; the
		// client picks one and fails over to the others.
		opts[i].Configure = func(c *daemon.Config) {
			c.Cluster = cluster.Config{
				URLs: srv.URLs, NodeID: id, Name: "debian",
				// The default failover time: a killed leader's election
				// takes 5-6 s on 2.9.10, and heartbeats with it, so a
				// short one would see nodes die that did not.
				User: user, Password: pass, FailoverAfter: 30 * time.Second,
			}
		}
	}
	nodes := daemontest.StartAll(t, opts...)
	ca, cc := nodes[0].Client(t), nodes[2].Client(t)

	byID := map[string]*enginetest.Torrent{}
	placed := map[string]int{}
	for _, tr := range trs {
		res := addMagnet(t, ca, tr.Magnet([]string{seeder.Addr}))
		if res.Node == "" {
			t.Fatalf("task.add in a cluster answered no node: %+v", res)
		}
		byID[res.TaskID] = tr
		placed[res.Node]++
	}
	t.Logf("placed: %v", placed)
	waitUntilAPI(t, "all 6 finished in node c's task.list", 3*time.Minute, func() bool {
		done := 0
		tasks := listTasks(t, cc)
		for _, task := range tasks {
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
			t.Fatalf("task.list on c has a task no one added: %s", task.TaskID)
		}
		if task.Node == "" || placed[task.Node] == 0 {
			t.Fatalf("task %s is listed on node %q; placed: %v", task.TaskID, task.Node, placed)
		}
		enginetest.SameFiles(t, tr, dirs[task.Node])
	}

	// The server leading the command stream is killed while six more
	// tasks are added and three of the first are paused through node a
	// (each retried until answered: a node cut off from NATS answers 216),
	// and started again: every acknowledged add and pause is carried out.
	more := make([]*enginetest.Torrent, n)
	for i := range more {
		more[i] = enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("deb-more%d.bin", i), Size: 150<<10 + int64(i)*4093, Seed: uint64(700 + i)})
		seeder.Seed(t, more[i])
	}
	var pause []string
	for id := range byID {
		if len(pause) < 3 {
			pause = append(pause, id)
		}
	}
	l := srv.StreamLeader("LODESTONE_CMD")
	t.Logf("killing %s, leader of LODESTONE_CMD", srv.Names[l])
	killed := time.Now()
	srv.Kill(l)
	failed := 0
	untilAnswered := func(what string, f func(ctx context.Context) error) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			err := f(ctxT(t, 15*time.Second))
			if err == nil {
				return
			}
			failed++
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, tr := range more {
		untilAnswered("task.add", func(ctx context.Context) error {
			res, err := ca.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr})})
			if err == nil {
				byID[res.TaskID] = tr
			}
			return err
		})
	}
	for _, id := range pause {
		untilAnswered("task.pause", func(ctx context.Context) error { return ca.PauseTask(ctx, id) })
	}
	t.Logf("6 adds and 3 pauses answered %v after the kill (%d attempts failed and were retried)", time.Since(killed).Round(time.Millisecond), failed)
	srv.Start(l)
	paused := map[string]bool{}
	for _, id := range pause {
		paused[id] = true
	}
	unavailable := 0
	waitUntilAPI(t, "all 12 in node c's task.list, the new ones finished and three paused", 3*time.Minute, func() bool {
		tasks, err := cc.ListTasks(ctxT(t, 10*time.Second))
		var ae *api.Error
		if asCode(err, &ae, api.CodeClusterUnavailable) {
			// Node c may not have seen its own heartbeat for a while
			// during the election: it says so until it does.
			unavailable++
			return false
		}
		if err != nil {
			t.Fatalf("task.list on c: %v", err)
		}
		ok := 0
		for _, task := range tasks {
			switch {
			case paused[task.TaskID]:
				if task.State == api.StatePaused {
					ok++
				}
			case task.Size > 0 && task.Completed == task.Size && task.Node != "":
				ok++
			}
		}
		return len(tasks) == 2*n && ok == 2*n
	})
	if unavailable > 0 {
		t.Logf("node c answered task.list with cluster_unavailable %d times after the restart", unavailable)
	}
	for _, task := range listTasks(t, cc) {
		tr := byID[task.TaskID]
		if tr == nil {
			t.Fatalf("task.list on c has a task no one added: %s", task.TaskID)
		}
		enginetest.SameFiles(t, tr, dirs[task.Node])
	}
}
