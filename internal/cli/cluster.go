package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

const clusterUsage = `usage: lodestone cluster [flags] status
       lodestone cluster [flags] drain [--undo] <node>

Shows and steers cluster mode: daemons started with serve --cluster or
--cluster-embedded are the nodes of one cluster, and any node's API serves
all of it (docs/CLUSTER.md).

status lists the nodes (cluster.status): a line "cluster NAME, answered by
NODE, failover after 30s, N tasks" (N: the tasks in the cluster's task
list), then a table of NODE, STATE (live, draining, or down: holding tasks
but sending no heartbeat), TASKS placed on it, MAX (its serve --max-tasks,
"-" for no limit), FREE disk where its data goes, DOWN and UP rates, and
HEARTBEAT (when it last beat, by its clock; "-" when down). A node that has
lost NATS says so on a line of its own: it refuses cluster work until NATS
is back. On a daemon not in a cluster, status prints "not in a cluster".

drain stops placing tasks on the node and moves the tasks it holds to the
other nodes (cluster.drain), where they start again from the swarm; it
prints "draining NODE: N tasks move to other nodes", and task.moved events
follow as each moves. With --undo, tasks may be placed on the node again
(those moved away stay where they are). On a daemon not in a cluster,
drain fails (not_clustered).

With --json, prints the daemon's result.
`

func runCluster(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("cluster")
	var common commonFlags
	common.register(fs)
	undo := fs.Bool("undo", false, "with drain: let tasks be placed on the node again")
	pos, err := e.parse(fs, args, clusterUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: status or drain")
	}
	action, rest := pos[0], pos[1:]
	if err := flagsFor(fs, action, map[string][]string{"undo": {"drain"}}); err != nil {
		return err
	}
	switch action {
	case "status":
		if err := noArgs(action, rest); err != nil {
			return err
		}
		var r api.ClusterStatusResult
		if printed, err := callAction(ctx, e, &common, "cluster status", api.MethodClusterStatus, struct{}{}, &r); err != nil || printed {
			return err
		}
		return writeClusterStatus(e, r)
	case "drain":
		node, err := oneArg(action, "node id", rest)
		if err != nil {
			return err
		}
		drain := !*undo
		var r api.ClusterDrainResult
		p := api.ClusterDrainParams{Node: node, Drain: &drain}
		if printed, err := callAction(ctx, e, &common, "cluster drain "+node, api.MethodClusterDrain, p, &r); err != nil || printed {
			return err
		}
		if !r.Draining {
			fmt.Fprintf(e.stdout, "%s is no longer draining: tasks may be placed on it again\n", sanitize(r.Node))
			return nil
		}
		tasks := "tasks move"
		if r.Moving == 1 {
			tasks = "task moves"
		}
		fmt.Fprintf(e.stdout, "draining %s: %d %s to other nodes\n", sanitize(r.Node), r.Moving, tasks)
	default:
		return usagef("unknown action %q: status or drain", action)
	}
	return nil
}

// writeClusterStatus prints cluster.status's result: the header line,
// then the nodes' table.
func writeClusterStatus(e *env, r api.ClusterStatusResult) error {
	if !r.Enabled {
		fmt.Fprintln(e.stdout, "not in a cluster")
		return nil
	}
	failover := time.Duration(r.FailoverSeconds) * time.Second
	tasks := "tasks"
	if r.Tasks == 1 {
		tasks = "task"
	}
	fmt.Fprintf(e.stdout, "cluster %s, answered by %s, failover after %s, %d %s\n", sanitize(r.Name), sanitize(r.Node), failover, r.Tasks, tasks)
	if !r.Connected {
		fmt.Fprintf(e.stdout, "%s has lost NATS: it refuses cluster work until it is back, and may show an old view\n", sanitize(r.Node))
	}
	rows := make([][]string, 0, len(r.Nodes))
	for _, n := range r.Nodes {
		max := "-"
		if n.MaxTasks > 0 {
			max = strconv.Itoa(n.MaxTasks)
		}
		rows = append(rows, []string{sanitize(n.ID), sanitize(n.State), strconv.Itoa(n.Tasks), max,
			formatBytes(int64(min(n.FreeDisk, 1<<63-1))), formatRate(n.DownloadRate), formatRate(n.UploadRate), heartbeat(n.LastHeartbeat)})
	}
	return printTable(e.stdout, []string{"NODE", "STATE", "TASKS", "MAX", "FREE", "DOWN", "UP", "HEARTBEAT"}, rows)
}

// heartbeat renders a node's last heartbeat, RFC 3339, in local time to
// the second as the other tables show times; "" (down) shows "-".
func heartbeat(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return sanitize(s)
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
