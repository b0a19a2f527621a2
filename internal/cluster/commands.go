package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// commandWait is how long a routed command waits for its node's answer
// before the client is answered without it.
const commandWait = 15 * time.Second

// errNotStored: a command could not be stored in the command stream; it
// will not be carried out.
var errNotStored = errors.New("command not stored")

// reply is a command's answer as it travels back: the method's result, or
// the API error a client would have been given.
type reply struct {
	Code    api.Code        `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// command sends a method to node through the command stream and returns
// the node's answer. When the node does not answer within commandWait,
// the stored command is answered {} for the methods whose result is
// that, and 215 for the others (it is still carried out when the node
// is back).
func (n *Node) command(ctx context.Context, node, method string, params json.RawMessage) (json.RawMessage, error) {
	wait, cancel := context.WithTimeout(ctx, commandWait)
	defer cancel()
	raw, err := n.commandWait(wait, node, method, params)
	if errors.Is(err, errNotStored) {
		return nil, n.storeFailed("store the command for node "+node, err)
	}
	var ae *api.Error
	if err != nil && errors.As(err, &ae) && ae.Code == api.CodeNodeUnavailable && emptyResult[method] {
		return json.RawMessage("{}"), nil
	}
	return raw, err
}

// commandWait stores the command and waits until ctx ends for the
// answer. An error wrapping errNotStored means it was not stored; an
// *api.Error with 215 means it was stored and not answered in time.
func (n *Node) commandWait(ctx context.Context, node, method string, params json.RawMessage) (json.RawMessage, error) {
	cmd := bus.Command{ID: newCommandID(), Method: method, Params: params}
	sent, err := n.bus.Send(ctx, node, cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotStored, err)
	}
	res, err := sent.Result(ctx)
	if err != nil {
		return nil, &api.Error{Code: api.CodeNodeUnavailable,
			Message: fmt.Sprintf("node %s has not answered yet; the command is stored and is carried out when the node is back", node)}
	}
	if res.Error != "" {
		return nil, &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("node %s: %s", node, res.Error)}
	}
	return decodeReply(res.Result)
}

// decodeReply turns a reply back into a result or an *api.Error.
func decodeReply(raw json.RawMessage) (json.RawMessage, error) {
	var r reply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode a node's answer: %w", err)
	}
	if r.Code != api.CodeOK {
		return nil, &api.Error{Code: r.Code, Message: r.Message}
	}
	if len(r.Result) == 0 {
		return json.RawMessage("null"), nil
	}
	return r.Result, nil
}

// encodeReply is decodeReply's inverse.
func encodeReply(result json.RawMessage, err error) json.RawMessage {
	r := reply{Result: result}
	if err != nil {
		r.Result = nil
		r.Code, r.Message = api.CodeInternal, err.Error()
		var ae *api.Error
		if errors.As(err, &ae) {
			r.Code, r.Message = ae.Code, ae.Message
		}
	}
	raw, _ := json.Marshal(r)
	return raw
}

// apiCode is err's API code, CodeInternal for an error that has none.
func apiCode(err error) api.Code {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Code
	}
	return api.CodeInternal
}

func newCommandID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// handleCommand carries out a command sent to this node. A task that has
// moved on meanwhile (this node was away and its tasks were placed
// elsewhere) gets the command passed on to its new node. API errors are
// the command's answer, not a reason to try again; an error returned
// here (the task list cannot be read) has the command delivered again.
func (n *Node) handleCommand(ctx context.Context, cmd bus.Command) (json.RawMessage, error) {
	if raw, ok := n.recall(cmd.ID); ok {
		return raw, nil
	}
	raw, err := n.carryOut(ctx, cmd)
	if err != nil {
		return nil, err
	}
	n.remember(cmd.ID, raw)
	return raw, nil
}

func (n *Node) carryOut(ctx context.Context, cmd bus.Command) (json.RawMessage, error) {
	if cmd.Method == api.MethodTaskAdd {
		return n.carryOutAdd(ctx, cmd)
	}
	var p taskParams
	if err := json.Unmarshal(cmd.Params, &p); err != nil {
		return encodeReply(nil, invalid("%v", err)), nil
	}
	e, err := n.tasks.Load(ctx, p.TaskID)
	switch {
	case errors.Is(err, tasklist.ErrNotFound):
		// Not a cluster task (any more): the daemon answers.
		return encodeReply(n.local.Call(ctx, cmd.Method, cmd.Params)), nil
	case err != nil:
		return nil, fmt.Errorf("read the task list: %w", err)
	}
	if e.Node != n.id {
		n.log.Info("command for a task that moved: passed on", "task_id", e.TaskID, "method", cmd.Method, "to", e.Node)
		wait, cancel := context.WithTimeout(ctx, commandWait)
		defer cancel()
		return encodeReply(n.commandWait(wait, e.Node, cmd.Method, cmd.Params)), nil
	}
	res, err := n.local.Call(ctx, cmd.Method, cmd.Params)
	if cmd.Method == api.MethodTaskRemove && (err == nil || apiCode(err) == api.CodeTaskNotFound) {
		n.forget(ctx, e.TaskID)
	}
	return encodeReply(res, err), nil
}

// carryOutAdd adds a task placed here by task.add, once this node's copy
// of the task list has its entry.
func (n *Node) carryOutAdd(ctx context.Context, cmd bus.Command) (json.RawMessage, error) {
	var p adoptParams
	if err := json.Unmarshal(cmd.Params, &p); err != nil {
		return encodeReply(nil, invalid("%v", err)), nil
	}
	wait, cancel := context.WithTimeout(ctx, commandWait)
	err := n.tasks.Wait(wait, p.Revision)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("wait for the task list: %w", err)
	}
	e, ok := n.tasks.Get(p.TaskID)
	switch {
	case !ok:
		return encodeReply(nil, &api.Error{Code: api.CodeTaskNotFound, Message: "the task was removed before its node added it"}), nil
	case e.Node != n.id:
		// Placed again before this node took it: the new node adopts it.
		return encodeReply(nil, &api.Error{Code: api.CodeNodeUnavailable, Message: fmt.Sprintf("task %s moved to node %s", e.TaskID, e.Node)}), nil
	}
	res, err := n.adopt(ctx, e)
	if err != nil && apiCode(err) != api.CodeInternal {
		// Refused for good (no space, a path taken, no such category):
		// the task leaves the cluster's list.
		n.forgetIf(ctx, e.TaskID, e.Generation)
	}
	return encodeReply(res, err), nil
}

// adopt adds a task of the task list to this daemon, from the params it
// was added with and its desired state.
func (n *Node) adopt(ctx context.Context, e taskEntry) (json.RawMessage, error) {
	p := e.Add
	p.Node = ""
	p.Paused = e.Paused // the desired state: set from the add, then by pause and resume
	if e.TorrentStored() {
		b, err := n.tasks.Torrent(ctx, e.TaskID)
		if err != nil {
			return nil, fmt.Errorf("read the task's torrent: %w", err)
		}
		p.Type, p.Data = api.TaskTypeTorrent, base64.StdEncoding.EncodeToString(b)
	}
	raw, _ := json.Marshal(p)
	n.markRegistered(e.TaskID)
	return n.local.Call(ctx, api.MethodTaskAdd, raw)
}

// serveRead answers a read another node routed here.
func (n *Node) serveRead(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if _, ok := taskMethods[method]; !ok && method != api.MethodTaskList {
		return nil, &api.Error{Code: api.CodeUnknownMethod, Message: fmt.Sprintf("method %q is not served between nodes", method)}
	}
	return n.local.Call(ctx, method, params)
}

// recall returns a command's cached answer.
func (n *Node) recall(id string) (json.RawMessage, bool) {
	n.doneMu.Lock()
	defer n.doneMu.Unlock()
	raw, ok := n.done[id]
	return raw, ok
}

// doneCap bounds the cache of answered commands.
const doneCap = 4096

func (n *Node) remember(id string, raw json.RawMessage) {
	n.doneMu.Lock()
	defer n.doneMu.Unlock()
	if _, ok := n.done[id]; ok {
		return
	}
	n.done[id] = raw
	n.order = append(n.order, id)
	if len(n.order) > doneCap {
		delete(n.done, n.order[0])
		n.order = n.order[1:]
	}
}
