package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// taskEntry is one task of the cluster's task list.
type taskEntry = tasklist.Entry

// addWait bounds how long task.add waits for the chosen node's answer
// once the task is stored: past it, the client is answered with what is
// known (the task is durable and the node adds it when it can).
const addWait = 20 * time.Second

// adoptParams are the params of the "task.add" command a node is sent:
// the task's entry in the task list says the rest.
type adoptParams struct {
	TaskID     string `json:"task_id"`
	Generation uint64 `json:"generation"`
	// Revision is the entry's revision in the task list: the node waits
	// until its copy of the list has it (a read of the bucket may be
	// served by a replica that has not).
	Revision uint64 `json:"revision"`
}

// add places a task.add: it checks the params here (a bad torrent is
// refused before anything is stored), picks the node (the pinned one, or
// placement), stores the task in the task list (durable: the answer may
// say "added" from then on) and has the node add it.
func (n *Node) add(ctx context.Context, raw json.RawMessage) (api.TaskAddResult, error) {
	var p api.TaskAddParams
	if err := json.Unmarshal(raw, &p); err != nil {
		return api.TaskAddResult{}, invalid("%v", err)
	}
	pin := p.Node
	p.Node = ""
	p, res, torrent, err := n.local.Identify(ctx, p)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	node, err := n.place(res.TaskID, pin)
	if err != nil {
		return api.TaskAddResult{}, err
	}
	if torrent != nil {
		p.Type, p.Data = api.TaskTypeTorrent, "" // kept in the object store
	}
	e, err := n.tasks.Create(ctx, taskEntry{
		TaskID: res.TaskID, Node: node, Generation: 1, Add: p, Paused: p.Paused,
		AddedAt: time.Now().UTC(),
	}, torrent)
	if errors.Is(err, tasklist.ErrExists) {
		// Added before: as on one daemon, the answer is the task.
		res.Node = e.Node
		return res, nil
	}
	if err != nil {
		return api.TaskAddResult{}, n.storeFailed("store the task in the cluster's task list", err)
	}
	res.Node = e.Node
	params, _ := json.Marshal(adoptParams{TaskID: e.TaskID, Generation: e.Generation, Revision: e.Revision})
	wait, cancel := context.WithTimeout(ctx, addWait)
	defer cancel()
	out, err := n.commandWait(wait, e.Node, api.MethodTaskAdd, params)
	var ae *api.Error
	switch {
	case err == nil:
		var got api.TaskAddResult
		if json.Unmarshal(out, &got) == nil && got.TaskID != "" {
			got.Node = e.Node
			return got, nil
		}
		return res, nil
	case errors.As(err, &ae) && ae.Code != api.CodeNodeUnavailable:
		// The node refused it (no space, a path taken, a category it
		// lacks): the task is not added, and leaves the list.
		return api.TaskAddResult{}, err
	case errors.Is(err, errNotStored):
		n.forgetIf(context.WithoutCancel(ctx), e.TaskID, e.Generation)
		return api.TaskAddResult{}, n.storeFailed("send the task to its node", err)
	default:
		// Stored, not answered yet: the node adds it when it can.
		n.log.Info("task stored; its node has not answered yet", "task_id", e.TaskID, "node", e.Node, "err", err)
		return res, nil
	}
}

// place picks the node for a new task: the pinned one if it is live and
// not draining, else placement's choice among the live nodes.
func (n *Node) place(id, pin string) (string, error) {
	if pin == "" {
		node, err := n.mem.Place(id)
		if errors.Is(err, membership.ErrNoNode) {
			return "", &api.Error{Code: api.CodeNoNode, Message: "no live node can take the task: every node is draining, full (--max-tasks) or out of disk"}
		}
		return node, err
	}
	for _, nd := range n.mem.Live() {
		if nd.ID == pin {
			if nd.Draining {
				return "", &api.Error{Code: api.CodeNoNode, Message: fmt.Sprintf("node %s is draining", pin)}
			}
			return pin, nil
		}
	}
	return "", &api.Error{Code: api.CodeNoNode, Message: fmt.Sprintf("node %q is not a live node of the cluster", pin)}
}
