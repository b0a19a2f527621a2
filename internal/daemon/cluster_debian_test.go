package daemon_test

import (
	"fmt"
	"testing"
	"time"

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
				User: user, Password: pass, FailoverAfter: 10 * time.Second,
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
}
