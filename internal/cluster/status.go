package cluster

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// Status answers cluster.status: the live nodes with their last
// heartbeat, and the nodes that are down but still hold tasks in the
// task list.
func (n *Node) Status(context.Context) (api.ClusterStatusResult, error) {
	counts := n.tasks.Counts()
	res := api.ClusterStatusResult{
		Enabled: true, Name: n.cfg.Name, Node: n.id, Connected: n.connected.Load(),
		FailoverSeconds: int64(n.mem.TTL() / time.Second), Tasks: n.tasks.Len(),
	}
	seen := map[string]bool{}
	for _, nd := range n.mem.Live() {
		seen[nd.ID] = true
		state := api.NodeStateLive
		if nd.Draining {
			state = api.NodeStateDraining
		}
		cn := api.ClusterNode{
			ID: nd.ID, State: state, APIURL: nd.APIURL, Version: nd.Version, FreeDisk: nd.FreeDisk,
			Tasks: counts[nd.ID], MaxTasks: nd.MaxTasks, DownloadRate: nd.DownloadRate, UploadRate: nd.UploadRate,
		}
		if !nd.At.IsZero() {
			cn.LastHeartbeat = nd.At.UTC().Format(time.RFC3339)
		}
		res.Nodes = append(res.Nodes, cn)
	}
	for id, c := range counts {
		if !seen[id] {
			res.Nodes = append(res.Nodes, api.ClusterNode{ID: id, State: api.NodeStateDown, Tasks: c})
		}
	}
	slices.SortFunc(res.Nodes, func(a, b api.ClusterNode) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	if res.Nodes == nil {
		res.Nodes = []api.ClusterNode{}
	}
	return res, nil
}

// Drain answers cluster.drain: it sets (or clears) the node's drain flag;
// the coordinator then moves the node's tasks to the others.
func (n *Node) Drain(ctx context.Context, p api.ClusterDrainParams) (api.ClusterDrainResult, error) {
	if p.Node == "" {
		return api.ClusterDrainResult{}, invalid("node is required")
	}
	if !n.connected.Load() {
		return api.ClusterDrainResult{}, n.unavailable()
	}
	on := p.Drain == nil || *p.Drain
	known := n.tasks.Counts()[p.Node] > 0
	for _, nd := range n.mem.Live() {
		known = known || nd.ID == p.Node
	}
	if !known {
		return api.ClusterDrainResult{}, &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf("node %q is not in the cluster (live, or holding tasks)", p.Node)}
	}
	if err := n.mem.Drain(ctx, p.Node, on); err != nil {
		return api.ClusterDrainResult{}, fmt.Errorf("set the drain flag: %w", err)
	}
	res := api.ClusterDrainResult{Node: p.Node, Draining: on}
	if on {
		res.Moving = n.tasks.Counts()[p.Node]
	}
	return res, nil
}
