package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// The coordinator is the live node with the smallest id. Once a second it
// places again every task whose node is not live (its heartbeat expired:
// --cluster-failover-after) or is draining, and announces the changes of
// the live list (cluster.node). Two nodes that both believe they
// coordinate (their live lists differ for a moment) cannot move a task
// twice: each move is a compare-and-set on the task's entry at the
// generation it read.

// coordinateEvery is the coordinator's period.
const coordinateEvery = time.Second

func (n *Node) coordinate(ctx context.Context) {
	t := time.NewTicker(coordinateEvery)
	defer t.Stop()
	var prev map[string]string // node → state, as last announced
	var selfSince time.Time    // since when this node is live in its own view
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.connected.Load() {
			prev = nil
			continue
		}
		live := n.mem.Live()
		self := slices.ContainsFunc(live, func(nd membership.Node) bool { return nd.ID == n.id })
		if !self || time.Since(n.mem.LastBeat()) > n.mem.TTL()/2 {
			// This node is not live in its own view, or its own
			// heartbeats are not being stored (one every TTL/3): the
			// view is stale (the heartbeats' bucket electing a
			// leader, a watcher being recreated), not the nodes gone;
			// its entries age out in no useful order (once a node
			// saw itself alone and moved a live node's tasks). Keep
			// prev, so that what changed meanwhile is announced once
			// the view is back (a node that died then had no
			// cluster.node down).
			selfSince = time.Time{}
			continue
		}
		if selfSince.IsZero() {
			selfSince = time.Now()
		}
		if live[0].ID != n.id {
			prev = nil
			continue
		}
		// A node that just started, or whose view just came back, has
		// not seen every live node's next heartbeat (one every TTL/3)
		// yet: its live list may miss nodes that are alive (once, after
		// 6 s without heartbeat puts, the coordinator saw only itself
		// for a tick, and would have moved the tasks of a live node).
		if time.Since(n.started) < n.mem.TTL() || time.Since(selfSince) < n.mem.TTL()/2 {
			continue
		}
		prev = n.announceNodes(ctx, prev, live)
		n.failover(ctx, live)
	}
}

// announceNodes publishes a cluster.node event for each change of the
// live list since prev (nil: the first look, announced as nothing).
func (n *Node) announceNodes(ctx context.Context, prev map[string]string, live []membership.Node) map[string]string {
	cur := make(map[string]string, len(live))
	for _, nd := range live {
		cur[nd.ID] = api.NodeStateLive
		if nd.Draining {
			cur[nd.ID] = api.NodeStateDraining
		}
	}
	if prev == nil {
		return cur
	}
	for id, st := range cur {
		if prev[id] != st {
			n.publish(ctx, api.EventClusterNode, api.ClusterNodeData{Node: id, State: st}, "")
		}
	}
	for id := range prev {
		if _, ok := cur[id]; !ok {
			n.publish(ctx, api.EventClusterNode, api.ClusterNodeData{Node: id, State: api.NodeStateDown}, "")
		}
	}
	return cur
}

// failover places again the tasks of nodes that are gone or draining.
func (n *Node) failover(ctx context.Context, live []membership.Node) {
	byID := make(map[string]int, len(live))
	nodes := append([]membership.Node(nil), live...)
	counts := n.tasks.Counts()
	for i := range nodes {
		byID[nodes[i].ID] = i
		// The list's count is exact; a heartbeat's may be a beat old.
		nodes[i].Tasks = counts[nodes[i].ID]
	}
	for _, e := range n.tasks.All() {
		if ctx.Err() != nil {
			return
		}
		i, ok := byID[e.Node]
		if ok && !nodes[i].Draining {
			continue
		}
		if e.Removing {
			if !ok {
				// Its node is gone: no one is left to remove it.
				if err := n.tasks.Delete(ctx, e.TaskID, e.Revision); err != nil && !errors.Is(err, tasklist.ErrNotFound) {
					n.log.Warn("remove a removed task of a dead node", "task_id", e.TaskID, "err", err)
				}
			}
			continue
		}
		reason := "node_down"
		if ok {
			reason = "drained"
		}
		to, err := membership.Place(e.TaskID, nodes)
		if err != nil {
			n.log.Warn("no node can take the tasks of a node that is gone or draining", "node", e.Node, "err", err)
			return
		}
		moved, err := n.tasks.Update(ctx, e.TaskID, func(x *taskEntry) error {
			if x.Node != e.Node || x.Generation != e.Generation || x.Removing {
				return tasklist.ErrSkip
			}
			x.MovedFrom, x.Node, x.MoveReason = x.Node, to, reason
			x.Generation++
			return nil
		})
		if errors.Is(err, tasklist.ErrSkip) || errors.Is(err, tasklist.ErrNotFound) {
			continue
		}
		if err != nil {
			n.log.Warn("move a task", "task_id", e.TaskID, "err", err)
			continue
		}
		nodes[byID[to]].Tasks++
		n.log.Info("task moved", "task_id", e.TaskID, "from", e.Node, "to", to, "reason", reason, "generation", moved.Generation)
		n.publish(ctx, api.EventTaskMoved, api.TaskMovedData{TaskID: e.TaskID, From: e.Node, To: to,
			Reason: reason, Generation: moved.Generation}, fmt.Sprintf("moved:%s:%d", e.TaskID, moved.Generation))
	}
}

// publishFor is how long publish keeps trying to store an event. It must
// stay below the bus's duplicate window (2 min), so that a resend of an
// event stored without its acknowledgement is dropped as a duplicate.
const publishFor = time.Minute

// publish puts an event of the cluster itself (not of this daemon) into
// the event stream; id, when set, makes a resend a duplicate (without
// one, a random id does, for this call's resends). It retries: a failover
// publishes its task.moved just when the stream may have lost its leader
// with the dead node's server ("no response from stream" for a few
// seconds, seen in TestClusterFailoverSIGKILL), and an event given up on
// is never seen by any client.
func (n *Node) publish(ctx context.Context, name string, data any, id string) {
	raw, err := json.Marshal(data)
	if err != nil {
		n.log.Error("encode event", "name", name, "err", err)
		return
	}
	if id == "" {
		id = "cluster:" + n.id + ":" + rand.Text()
	}
	give := time.Now().Add(publishFor)
	wait := 100 * time.Millisecond
	for {
		_, err := n.bus.Publish(ctx, n.id, name, raw, bus.WithID(id))
		if err == nil {
			return
		}
		if time.Now().After(give) {
			n.log.Error("publish a cluster event: giving up", "name", name, "err", err)
			return
		}
		n.log.Warn("publish a cluster event; retrying", "name", name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
