package cli_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/cluster"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The cluster command's mistakes exit 2 before contacting any daemon.
func TestClusterUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"cluster"}, "no action given: status or drain"},
		{[]string{"cluster", "join"}, `unknown action "join": status or drain`},
		{[]string{"cluster", "status", "a"}, `status takes no argument, got "a"`},
		{[]string{"cluster", "drain"}, "drain takes one node id, got 0 arguments"},
		{[]string{"cluster", "drain", "a", "b"}, "drain takes one node id, got 2 arguments"},
		{[]string{"cluster", "status", "--undo"}, "--undo goes with drain"},
	} {
		r := run(t, tt.args...)
		r.fails(t, cli.ExitUsage, tt.want)
		if r.stdout != "" {
			t.Errorf("%q: stdout not empty: %s", tt.args, r.stdout)
		}
	}
}

// A daemon not in a cluster: status says so and exits 0, drain and its
// undo fail with the daemon's not_clustered, ls has no NODE column and
// info's node is "-".
func TestClusterNotClustered(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	r := runAt(t, d, "cluster", "status").ok(t)
	if r.stdout != "not in a cluster\n" {
		t.Errorf("cluster status: %q", r.stdout)
	}
	var res api.ClusterStatusResult
	out := runAt(t, d, "cluster", "status", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Enabled || len(res.Nodes) != 0 {
		t.Errorf("cluster status --json: %v %q", err, out)
	}
	runAt(t, d, "cluster", "drain", "b").fails(t, cli.ExitFailure, "lodestone: cluster drain b: ", "(not_clustered)")
	runAt(t, d, "cluster", "drain", "--undo", "b").fails(t, cli.ExitFailure, "(not_clustered)")

	tr := enginetest.Generate(t, enginetest.Content{Name: "alone.bin", Size: 20_000, Seed: 71})
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)
	if ls := runAt(t, d, "ls").ok(t).stdout; strings.Contains(ls, "NODE") {
		t.Errorf("ls outside a cluster has a NODE column:\n%s", ls)
	}
	if info := runAt(t, d, "info", tr.InfoHash).ok(t).stdout; !strings.Contains(info, "\nnode: -\n") {
		t.Errorf("info lacks node: -:\n%s", info)
	}
	other := enginetest.Generate(t, enginetest.Content{Name: "pinned.bin", Size: 20_000, Seed: 74})
	runAt(t, d, "add", "--node", "a", torrentFile(t, other)).fails(t, cli.ExitFailure, "(not_clustered)")
}

// A node of a cluster of one, with its embedded NATS server: status shows
// it live with its tasks; add --node pins a task to it, ls shows the NODE
// column and info the node; add --node of an unknown node fails with
// no_node; drain and drain --undo set and clear its flag.
func TestClusterEmbedded(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.Cluster = cluster.Config{Embedded: true, NodeID: "a", FailoverAfter: 3 * time.Second}
	}})
	// The node's first heartbeat may come a moment after the API answers.
	waitStatus := func(re string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := runAt(t, d, "cluster", "status").ok(t).stdout
			if regexp.MustCompile(re).MatchString(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster status never matched %s:\n%s", re, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	out := waitStatus(`(?m)^a +live +0 +- +`)
	if first := lines(out)[0]; first != "cluster lodestone, answered by a, failover after 3s, 0 tasks" {
		t.Errorf("cluster status header: %q", first)
	}
	if h := lines(out)[1]; !regexp.MustCompile(`^NODE +STATE +TASKS +MAX +FREE +DOWN +UP +HEARTBEAT$`).MatchString(h) {
		t.Errorf("cluster status table header: %q", h)
	}
	var st api.ClusterStatusResult
	js := runAt(t, d, "cluster", "status", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(js), &st); err != nil || !st.Enabled || st.Node != "a" || st.Name != cluster.DefaultName || st.FailoverSeconds != 3 {
		t.Errorf("cluster status --json: %v %s", err, js)
	}

	// Completion offers the node ids, from the daemon, to drain and to
	// add --node.
	conn := []string{"--api-addr", d.APIAddr(), "--token", daemontest.Token}
	for _, args := range [][]string{append(append([]string{"cluster"}, conn...), "drain", ""), append(append([]string{"add"}, conn...), "--node", "")} {
		if got := run(t, append([]string{"__complete"}, args...)...).ok(t).stdout; got != "a\tlive\n" {
			t.Errorf("__complete %q: %q", args, got)
		}
	}

	tr := enginetest.Generate(t, enginetest.Content{Name: "pinned.bin", Size: 20_000, Seed: 72})
	if r := runAt(t, d, "add", "--paused", "--node", "a", torrentFile(t, tr)).ok(t); r.stdout != "added "+tr.InfoHash+" pinned.bin\n" {
		t.Errorf("add --node a: %q", r.stdout)
	}
	ls := runAt(t, d, "ls").ok(t).stdout
	if !regexp.MustCompile(`(?m)^ID +NAME +SIZE +DONE +STATE +NODE +DOWN +UP`).MatchString(ls) ||
		!regexp.MustCompile(`(?m)^`+tr.InfoHash[:8]+` +pinned\.bin +.* paused +a +`).MatchString(ls) {
		t.Errorf("ls in a cluster:\n%s", ls)
	}
	if info := runAt(t, d, "info", tr.InfoHash).ok(t).stdout; !strings.Contains(info, "\nnode: a\n") {
		t.Errorf("info lacks node: a:\n%s", info)
	}
	other := enginetest.Generate(t, enginetest.Content{Name: "nowhere.bin", Size: 20_000, Seed: 73})
	runAt(t, d, "add", "--node", "zz", torrentFile(t, other)).fails(t, cli.ExitFailure, "(no_node)")
	runAt(t, d, "cluster", "drain", "zz").fails(t, cli.ExitFailure, "lodestone: cluster drain zz: ", "(invalid_params)")
	waitStatus(`(?m)^cluster lodestone, answered by a, failover after 3s, 1 task\n(?s:.*)^a +live +1 +- +`)

	if r := runAt(t, d, "cluster", "drain", "a").ok(t); r.stdout != "draining a: 1 task moves to other nodes\n" {
		t.Errorf("cluster drain a: %q", r.stdout)
	}
	waitStatus(`(?m)^a +draining +`)
	if r := runAt(t, d, "cluster", "drain", "--undo", "a").ok(t); r.stdout != "a is no longer draining: tasks may be placed on it again\n" {
		t.Errorf("cluster drain --undo a: %q", r.stdout)
	}
	waitStatus(`(?m)^a +live +`)
}

// Three nodes whose embedded NATS servers are routed into one cluster, as
// docs/CLUSTER.md starts them: status on any node lists all three; ls on
// any node shows every task with its node; drain prints how many tasks
// move, and they do (ls shows none left on the node); --undo clears the
// flag.
func TestClusterDrainMovesTasks(t *testing.T) {
	t.Parallel()
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = natsnodetest.FreePort(t)
	}
	opts := make([]daemontest.Options, 3)
	for i := range opts {
		var routes []string
		for j, p := range ports {
			if j != i {
				routes = append(routes, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
		id := string(rune('a' + i))
		opts[i].Configure = func(c *daemon.Config) {
			c.Cluster = cluster.Config{Embedded: true, NodeID: id, Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]), Routes: routes, FailoverAfter: 3 * time.Second}
		}
	}
	nodes := daemontest.StartAll(t, opts...)
	a, b := nodes[0], nodes[1]
	waitFor := func(d *daemontest.Daemon, cmd []string, re string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			out := runAt(t, d, cmd[0], cmd[1:]...).ok(t).stdout
			if regexp.MustCompile(re).MatchString(out) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v never matched %s:\n%s", cmd, re, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor(b, []string{"cluster", "status"}, `(?m)^a +live +0 .*\n^b +live +0 .*\n^c +live +0 `)

	const n = 9
	for i := range n {
		runAt(t, a, "add", "--paused", fmt.Sprintf("%040x", 1000003*(i+1))).ok(t)
	}
	out := waitFor(b, []string{"cluster", "status"}, fmt.Sprintf(`(?m)^cluster lodestone, answered by b, failover after 3s, %d tasks$`, n))
	// The node holding the most tasks is drained.
	counts := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^([abc]) +live +(\d+) `).FindAllStringSubmatch(out, -1) {
		counts[m[1]], _ = strconv.Atoi(m[2])
	}
	drained := "a"
	for _, id := range []string{"b", "c"} {
		if counts[id] > counts[drained] {
			drained = id
		}
	}
	if counts["a"]+counts["b"]+counts["c"] != n || counts[drained] == 0 {
		t.Fatalf("tasks per node %v, want %d in all:\n%s", counts, n, out)
	}
	ls := runAt(t, b, "ls").ok(t).stdout
	if got := len(regexp.MustCompile(`(?m) paused +[abc] `).FindAllString(ls, -1)); got != n {
		t.Errorf("ls on b shows %d tasks with a node, want %d:\n%s", got, n, ls)
	}

	want := fmt.Sprintf("draining %s: %d tasks move to other nodes\n", drained, counts[drained])
	if counts[drained] == 1 {
		want = fmt.Sprintf("draining %s: 1 task moves to other nodes\n", drained)
	}
	if r := runAt(t, a, "cluster", "drain", drained).ok(t); r.stdout != want {
		t.Errorf("cluster drain %s: %q, want %q", drained, r.stdout, want)
	}
	waitFor(b, []string{"cluster", "status"}, `(?m)^`+drained+` +draining +0 `)
	waitFor(a, []string{"ls"}, `(?s)\A(?:[^\n]*\n)(?:[^\n]* paused +[^`+drained+` ] [^\n]*\n){`+strconv.Itoa(n)+`}\z`)
	if r := runAt(t, b, "cluster", "drain", "--undo", drained).ok(t); r.stdout != drained+" is no longer draining: tasks may be placed on it again\n" {
		t.Errorf("cluster drain --undo: %q", r.stdout)
	}
	waitFor(a, []string{"cluster", "status"}, `(?m)^`+drained+` +live +0 `)
}
