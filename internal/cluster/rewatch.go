package cluster

import (
	"context"
	"time"
)

// rewatchOnLoss recreates this node's task-list watcher whenever a node
// leaves the live list. With embedded NATS servers a node that dies takes
// its server with it, and the watcher's consumer (an ephemeral one the
// servers place themselves) may have been there: this node's own
// connection stays up, so the client resets the consumer only after
// missing its heartbeats, about 10 s, and until then this node's cache
// misses the failover's moves and does not adopt the tasks placed on it
// (BenchmarkClusterFailover: 13.4–13.8 s instead of 6–8 s in about half
// the runs). The heartbeat of the dead node expires when the failover
// starts, so the new watcher is in place for the moves.
func (n *Node) rewatchOnLoss(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var prev map[string]bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		live := n.mem.Live()
		cur := make(map[string]bool, len(live))
		for _, nd := range live {
			cur[nd.ID] = true
		}
		for id := range prev {
			if !cur[id] {
				n.log.Info("a node left: recreating the task list's watcher", "node", id)
				n.tasks.Rewatch()
				break
			}
		}
		prev = cur
	}
}
