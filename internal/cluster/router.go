package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// How the router treats each method that names one task.
type route int

const (
	// routeRead: answered by the task's node over rpc; fails fast (215)
	// when that node is away.
	routeRead route = iota + 1
	// routeCommand: sent to the task's node through the durable command
	// stream; answered once stored, with the node's result when it comes
	// in time.
	routeCommand
)

// taskMethods are the methods that act on one task (task_id), or on a
// selection of them (select), by how they are routed.
var taskMethods = map[string]route{
	api.MethodTaskGet:      routeRead,
	api.MethodTaskFiles:    routeRead,
	api.MethodTaskPeers:    routeRead,
	api.MethodTaskTrackers: routeRead,
	api.MethodTaskPieces:   routeRead,
	api.MethodTaskExport:   routeRead,

	api.MethodTaskPause:          routeCommand,
	api.MethodTaskResume:         routeCommand,
	api.MethodTaskRemove:         routeCommand,
	api.MethodTaskSet:            routeCommand,
	api.MethodTaskMove:           routeCommand,
	api.MethodTaskRecheck:        routeCommand,
	api.MethodTaskReannounce:     routeCommand,
	api.MethodTaskQueueMove:      routeCommand,
	api.MethodTaskAddTrackers:    routeCommand,
	api.MethodTaskRemoveTrackers: routeCommand,
}

// emptyResult marks the commands whose result is {}: when the node does
// not answer in time, the stored command is answered {} (accepted).
var emptyResult = map[string]bool{
	api.MethodTaskPause: true, api.MethodTaskResume: true, api.MethodTaskRemove: true,
	api.MethodTaskRecheck: true, api.MethodTaskReannounce: true,
}

// taskParams is what the router reads of a task method's params.
type taskParams struct {
	TaskID     string          `json:"task_id"`
	Select     *api.TaskSelect `json:"select"`
	DeleteData bool            `json:"delete_data"`
}

// Route answers the requests that are the cluster's business: task.add
// (placement), task.list (merged), cluster.*, and every task method for a
// task placed on another node, or one that changes a task's desired state
// (pause, resume, remove) wherever it runs. The others are left to this
// daemon. It implements apiserver.Router.
func (n *Node) Route(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, bool, error) {
	switch method {
	case api.MethodClusterStatus:
		return n.answer(n.Status(ctx))
	case api.MethodClusterDrain:
		var p api.ClusterDrainParams
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, true, invalid("%v", err)
		}
		return n.answer(n.Drain(ctx, p))
	case api.MethodTaskAdd:
		if !n.connected.Load() {
			return nil, true, n.unavailable()
		}
		return n.answer(n.add(ctx, params))
	case api.MethodTaskList:
		if !n.connected.Load() {
			return nil, true, n.unavailable()
		}
		raw, err := n.list(ctx, params)
		return raw, true, err
	}
	kind, ok := taskMethods[method]
	if !ok {
		return nil, false, nil
	}
	var p taskParams
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, false, nil // the method's own decoding words the error
	}
	if !n.connected.Load() {
		return nil, true, n.unavailable()
	}
	if p.Select != nil {
		if p.TaskID != "" {
			return nil, false, nil // refused by the method itself
		}
		return n.answer(n.bulk(ctx, method, params, p.Select))
	}
	raw, routed, err := n.one(ctx, kind, method, p, params)
	return raw, routed, err
}

// answer encodes a result for Route.
func (n *Node) answer(v any, err error) (json.RawMessage, bool, error) {
	if err != nil {
		return nil, true, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, true, fmt.Errorf("encode result: %w", err)
	}
	return raw, true, nil
}

// one routes a method on a single task. A task this node runs is left
// to the daemon, except that pause, resume and remove record the desired
// state in the task list first (so a move to another node keeps it).
func (n *Node) one(ctx context.Context, kind route, method string, p taskParams, params json.RawMessage) (json.RawMessage, bool, error) {
	e, ok := n.tasks.Get(p.TaskID)
	if !ok && isInfoHash(p.TaskID) {
		// The cache may lag behind an add through another node (its
		// watcher is recreated after its server went away): the
		// server's word decides before the daemon answers 202.
		fresh, err := n.tasks.Load(ctx, p.TaskID)
		switch {
		case err == nil:
			e, ok = fresh, true
		case !errors.Is(err, tasklist.ErrNotFound):
			return nil, true, n.storeFailed("read the cluster's task list", err)
		}
	}
	if !ok {
		return nil, false, nil // not a cluster task: the daemon says 202 (or has it)
	}
	if err := n.recordDesired(ctx, method, p); err != nil {
		return nil, true, err
	}
	if e.Node == n.id {
		if method == api.MethodTaskRemove {
			raw, err := n.local.Call(ctx, method, params)
			if err == nil || apiCode(err) == api.CodeTaskNotFound {
				n.forget(ctx, p.TaskID)
			}
			return raw, true, err
		}
		return nil, false, nil
	}
	if kind == routeRead {
		raw, err := rpc.Call(ctx, n.nats.Conn, subjectPrefix, e.Node, method, params)
		return raw, true, err
	}
	raw, err := n.command(ctx, e.Node, method, params)
	return raw, true, err
}

// recordDesired stores what pause, resume and remove ask for in the task
// list before the command goes to the node, so that the task keeps it if
// it is moved.
func (n *Node) recordDesired(ctx context.Context, method string, p taskParams) error {
	var apply func(*taskEntry) bool
	switch method {
	case api.MethodTaskPause:
		apply = func(e *taskEntry) bool { changed := !e.Paused; e.Paused = true; return changed }
	case api.MethodTaskResume:
		apply = func(e *taskEntry) bool { changed := e.Paused; e.Paused = false; return changed }
	case api.MethodTaskRemove:
		apply = func(e *taskEntry) bool {
			changed := !e.Removing || e.DeleteData != p.DeleteData
			e.Removing, e.DeleteData = true, p.DeleteData
			return changed
		}
	default:
		return nil
	}
	return n.updateEntry(ctx, p.TaskID, apply)
}

// isInfoHash reports whether id can be a task of the task list: 40
// lowercase hex digits.
func isInfoHash(id string) bool {
	if len(id) != 40 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// invalid is a 103 error.
func invalid(format string, args ...any) error {
	return &api.Error{Code: api.CodeInvalidParams, Message: fmt.Sprintf(format, args...)}
}
