package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
)

// listWait bounds how long a merged task.list waits for the nodes.
const listWait = 10 * time.Second

// list answers task.list for the whole cluster: the same request goes to
// every live node at once (this one directly), and their task arrays are
// joined as they are, node by node in id order, without decoding the
// tasks. A node that does not answer in time is left out, and the error
// says which when no node answered.
func (n *Node) list(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
	var others []string
	for _, nd := range n.mem.Live() {
		if nd.ID != n.id {
			others = append(others, nd.ID)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, listWait)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mine    json.RawMessage
		mineErr error
		replies map[string]rpc.Reply
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		mine, mineErr = n.local.Call(ctx, api.MethodTaskList, params)
	}()
	if len(others) > 0 {
		replies = rpc.CallAll(ctx, n.nats.Conn, subjectPrefix, others, api.MethodTaskList, params)
	}
	wg.Wait()
	if mineErr != nil {
		return nil, mineErr // bad params: every node would say the same
	}
	parts := map[string]json.RawMessage{n.id: mine}
	for node, r := range replies {
		if r.Err != nil {
			n.log.Warn("task.list: a node did not answer; its tasks are left out", "node", node, "err", r.Err)
			continue
		}
		parts[node] = r.Result
	}
	ids := make([]string, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return joinLists(ids, parts)
}

// joinLists joins {"tasks":[…]} answers into one.
func joinLists(order []string, parts map[string]json.RawMessage) (json.RawMessage, error) {
	const head, tail = `{"tasks":[`, `]}`
	size := len(head) + len(tail)
	for _, p := range parts {
		size += len(p)
	}
	out := make([]byte, 0, size)
	out = append(out, head...)
	first := true
	for _, id := range order {
		p := bytes.TrimSpace(parts[id])
		body, ok := bytes.CutPrefix(p, []byte(head))
		if ok {
			body, ok = bytes.CutSuffix(body, []byte(tail))
		}
		if !ok {
			// Not the compact form: decode it.
			var r struct {
				Tasks []json.RawMessage `json:"tasks"`
			}
			if err := json.Unmarshal(p, &r); err != nil {
				return nil, fmt.Errorf("task.list of node %s: %w", id, err)
			}
			body = bytes.Join(sliceOf(r.Tasks), []byte{','})
		}
		if len(body) == 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, body...)
	}
	return append(out, tail...), nil
}

func sliceOf(raws []json.RawMessage) [][]byte {
	out := make([][]byte, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out
}

// bulkParallel is how many tasks of a selection are worked on at once.
const bulkParallel = 16

// bulk runs a task method on a selection of tasks across the cluster:
// the selection is resolved over the merged task list (or is the ids
// given), and each task gets the single-task request, routed as Route
// routes it. The answer is a TaskBulkResult, as on one daemon.
func (n *Node) bulk(ctx context.Context, method string, params json.RawMessage, sel *api.TaskSelect) (api.TaskBulkResult, error) {
	ids, err := n.selectIDs(ctx, sel)
	if err != nil {
		return api.TaskBulkResult{}, err
	}
	var rest map[string]json.RawMessage
	if err := json.Unmarshal(params, &rest); err != nil {
		return api.TaskBulkResult{}, invalid("%v", err)
	}
	delete(rest, "select")
	res := api.TaskBulkResult{Results: make([]api.TaskBulkItem, len(ids))}
	sem := make(chan struct{}, bulkParallel)
	var wg sync.WaitGroup
	for i, id := range ids {
		res.Results[i].TaskID = id
		one := make(map[string]json.RawMessage, len(rest)+1)
		for k, v := range rest {
			one[k] = v
		}
		one["task_id"], _ = json.Marshal(id)
		raw, _ := json.Marshal(one)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var p taskParams
			json.Unmarshal(raw, &p)
			_, routed, err := n.one(ctx, taskMethods[method], method, p, raw)
			if !routed && err == nil {
				_, err = n.local.Call(ctx, method, raw)
			}
			if err != nil {
				res.Results[i].Error, res.Results[i].Message = apiCode(err), errMessage(err)
			}
		}()
	}
	wg.Wait()
	return res, nil
}

func errMessage(err error) string {
	if ae, ok := err.(*api.Error); ok {
		return ae.Message
	}
	return err.Error()
}

// selectIDs resolves a selection over the whole cluster: the ids given
// (filtered by the other criteria), or every task matching them.
func (n *Node) selectIDs(ctx context.Context, sel *api.TaskSelect) ([]string, error) {
	if len(sel.TaskIDs) == 0 && sel.Label == "" && sel.Category == "" && sel.State == "" && !sel.All {
		return nil, invalid("select needs at least one of task_ids, label, category, state, or all: true")
	}
	if len(sel.TaskIDs) > 0 && sel.Label == "" && sel.Category == "" && sel.State == "" {
		return slices.Compact(slices.Clone(sel.TaskIDs)), nil
	}
	q, _ := json.Marshal(api.TaskListParams{State: sel.State, Label: sel.Label, Fields: []string{"task_id", "category"}})
	raw, err := n.list(ctx, q)
	if err != nil {
		return nil, err
	}
	var all api.TaskListResult
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("decode the merged task list: %w", err)
	}
	want := map[string]bool{}
	for _, id := range sel.TaskIDs {
		want[id] = true
	}
	var ids []string
	for _, t := range all.Tasks {
		if sel.Category != "" && t.Category != sel.Category {
			continue
		}
		if len(want) > 0 && !want[t.TaskID] {
			continue
		}
		ids = append(ids, t.TaskID)
	}
	return ids, nil
}
