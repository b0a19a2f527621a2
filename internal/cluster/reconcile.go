package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/tasklist"
)

// The reconciler makes this daemon's tasks agree with the task list:
//   - a task placed here and missing is added (adopted): a task moved here
//     from a dead or drained node, or one whose add command was lost;
//   - a local task the list places on another node is dropped, its data
//     kept: this node was away and its tasks were moved;
//   - a local task the list lacks is dropped if this node had put it in
//     the list before (it was removed while the node was away), and put
//     in the list, placed here, if not (a task from before the node
//     joined, or one added through the Transmission or qBittorrent API).
//
// Dropping needs the server's word, never only the cache's: the cache may
// lag behind an add.

// reconcileEvery is the pass's period when nothing kicks it.
const reconcileEvery = 10 * time.Second

// settingRegistered is the local store's setting holding the ids of the
// local tasks this node put in (or took from) the task list.
const settingRegistered = "cluster_registered"

// registry is the set of task ids this node has had in the task list.
type registry struct {
	mu    sync.Mutex
	ids   map[string]bool
	dirty bool
}

func (n *Node) reconcileLoop(ctx context.Context) {
	n.loadRegistered()
	t := time.NewTicker(reconcileEvery)
	defer t.Stop()
	failed := map[string]uint64{} // adoptions that failed, by generation
	for {
		n.reconcile(ctx, failed)
		n.saveRegistered()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
			// Let a burst of changes arrive first.
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (n *Node) kickReconcile() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// taskChanged is the task list's watcher callback: a change that involves
// this node gets a reconciler pass.
func (n *Node) taskChanged(old, cur *taskEntry) {
	if old != nil && old.Node == n.id || cur != nil && cur.Node == n.id {
		n.kickReconcile()
	}
}

func (n *Node) reconcile(ctx context.Context, failed map[string]uint64) {
	if !n.connected.Load() || n.local.Tasks == nil {
		return
	}
	local := map[string]api.Task{}
	for _, t := range n.local.Tasks() {
		local[t.TaskID] = t
	}
	var adopt []taskEntry
	for _, e := range n.tasks.OnNode(n.id) {
		if ctx.Err() != nil {
			return
		}
		_, here := local[e.TaskID]
		switch {
		case e.Removing:
			if here {
				p, _ := json.Marshal(api.TaskRemoveParams{TaskID: e.TaskID, DeleteData: e.DeleteData})
				if _, err := n.local.Call(ctx, api.MethodTaskRemove, p); err != nil && apiCode(err) != api.CodeTaskNotFound {
					n.log.Warn("remove a task the cluster removed", "task_id", e.TaskID, "err", err)
					continue
				}
			}
			n.forget(ctx, e.TaskID)
		case here:
			n.markRegistered(e.TaskID)
		case e.Generation == 1 && time.Since(e.AddedAt) < addWait+5*time.Second:
			// Its add command is on its way; that path reports errors.
		case failed[e.TaskID] == e.Generation:
		default:
			adopt = append(adopt, e)
		}
	}
	n.adoptAll(ctx, adopt, failed)
	for id := range local {
		if ctx.Err() != nil {
			return
		}
		if e, ok := n.tasks.Get(id); ok && e.Node == n.id {
			continue
		}
		if _, ok := n.dropping.Load(id); ok {
			continue
		}
		fresh, err := n.tasks.Load(ctx, id)
		switch {
		case err == nil && fresh.Node == n.id:
		case err == nil:
			n.drop(ctx, id, fmt.Sprintf("it now runs on node %s", fresh.Node))
		case errors.Is(err, tasklist.ErrNotFound) && n.isRegistered(id):
			n.drop(ctx, id, "it was removed from the cluster while this node was away")
		case errors.Is(err, tasklist.ErrNotFound):
			n.register(ctx, local[id])
		default:
			n.log.Warn("read the task list", "task_id", id, "err", err)
		}
	}
}

// adoptParallel is how many tasks the reconciler adds at once: a node
// taking over a dead node's tasks adds them as its API would, and one at
// a time a thousand take seconds more than the failover time.
const adoptParallel = 8

// adoptAll adds the tasks placed here and missing, adoptParallel at a
// time, and records those that fail in failed (by generation), so they
// are not tried again until they are placed anew.
func (n *Node) adoptAll(ctx context.Context, es []taskEntry, failed map[string]uint64) {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, adoptParallel)
	)
	for _, e := range es {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			n.dropping.Delete(e.TaskID)
			if _, err := n.adopt(ctx, e); err != nil {
				mu.Lock()
				failed[e.TaskID] = e.Generation
				mu.Unlock()
				n.log.Error("could not take over a task placed here", "task_id", e.TaskID, "err", err)
				n.taskAlert(e.TaskID, api.LevelError, fmt.Sprintf("task %s was placed on node %s, which could not add it: %s", e.TaskID, n.id, errMessage(err)))
				return
			}
			n.log.Info("took over a task", "task_id", e.TaskID, "from", e.MovedFrom, "generation", e.Generation)
		}()
	}
	wg.Wait()
}

// drop removes a task from this daemon alone, keeping its data: the
// cluster has it elsewhere, or not at all.
func (n *Node) drop(ctx context.Context, id, why string) {
	n.dropping.Store(id, true)
	p, _ := json.Marshal(api.TaskRemoveParams{TaskID: id})
	if _, err := n.local.Call(ctx, api.MethodTaskRemove, p); err != nil && apiCode(err) != api.CodeTaskNotFound {
		n.log.Error("drop a task that moved", "task_id", id, "err", err)
		return
	}
	n.unregister(id)
	n.log.Info("task dropped here, its data kept", "task_id", id, "why", why)
	n.taskAlert(id, api.LevelInfo, fmt.Sprintf("task %s was dropped from node %s (its data is kept there): %s", id, n.id, why))
}

// register puts a local task the list lacks in it, placed here: from its
// .torrent when the daemon has one, else as a magnet of its info-hash.
func (n *Node) register(ctx context.Context, t api.Task) {
	add := api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + t.TaskID,
		Paused: t.State == api.StatePaused, Labels: t.Labels, Category: t.Category, DownloadDir: t.DownloadDir}
	var torrent []byte
	q, _ := json.Marshal(api.TaskIDParams{TaskID: t.TaskID})
	if raw, err := n.local.Call(ctx, api.MethodTaskExport, q); err == nil {
		var ex api.TaskExportResult
		if json.Unmarshal(raw, &ex) == nil {
			if b, err := base64.StdEncoding.DecodeString(ex.Torrent); err == nil {
				torrent, add.Type, add.Data = b, api.TaskTypeTorrent, ""
			}
		}
	}
	e, err := n.tasks.Create(ctx, taskEntry{TaskID: t.TaskID, Node: n.id, Generation: 1, Add: add,
		Paused: add.Paused, AddedAt: time.Now().UTC()}, torrent)
	switch {
	case errors.Is(err, tasklist.ErrExists) && e.Node != n.id:
		n.drop(ctx, t.TaskID, fmt.Sprintf("the cluster already has it on node %s", e.Node))
	case errors.Is(err, tasklist.ErrExists), err == nil:
		n.markRegistered(t.TaskID)
	default:
		n.log.Warn("put a local task in the cluster's list", "task_id", t.TaskID, "err", err)
	}
}

func (n *Node) loadRegistered() {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	n.reg.ids = map[string]bool{}
	if n.local.Settings == nil {
		return
	}
	raw, err := n.local.Settings.Setting(settingRegistered)
	if err != nil || raw == nil {
		return
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		n.log.Warn("the registered task ids are damaged; starting over", "err", err)
		return
	}
	for _, id := range ids {
		n.reg.ids[id] = true
	}
}

func (n *Node) saveRegistered() {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	if !n.reg.dirty || n.local.Settings == nil {
		return
	}
	ids := make([]string, 0, len(n.reg.ids))
	for id := range n.reg.ids {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	raw, _ := json.Marshal(ids)
	if err := n.local.Settings.PutSetting(settingRegistered, raw); err != nil {
		n.log.Warn("store the registered task ids", "err", err)
		return
	}
	n.reg.dirty = false
}

func (n *Node) markRegistered(id string) {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	if n.reg.ids == nil {
		n.reg.ids = map[string]bool{}
	}
	if !n.reg.ids[id] {
		n.reg.ids[id], n.reg.dirty = true, true
	}
}

func (n *Node) unregister(id string) {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	if n.reg.ids[id] {
		delete(n.reg.ids, id)
		n.reg.dirty = true
	}
}

func (n *Node) isRegistered(id string) bool {
	n.reg.mu.Lock()
	defer n.reg.mu.Unlock()
	return n.reg.ids[id]
}

// updateEntry applies a change to a task's entry; apply reports whether
// it changed anything (nothing is written when not).
func (n *Node) updateEntry(ctx context.Context, id string, apply func(*taskEntry) bool) error {
	_, err := n.tasks.Update(ctx, id, func(e *taskEntry) error {
		if !apply(e) {
			return tasklist.ErrSkip
		}
		return nil
	})
	if errors.Is(err, tasklist.ErrSkip) || errors.Is(err, tasklist.ErrNotFound) {
		return nil
	}
	if err != nil {
		return n.storeFailed("update the cluster's task list", err)
	}
	return nil
}

// forget removes a task from the task list (it was removed).
func (n *Node) forget(ctx context.Context, id string) {
	n.unregister(id)
	if err := n.tasks.Delete(ctx, id, 0); err != nil && !errors.Is(err, tasklist.ErrNotFound) {
		n.log.Warn("remove a task from the cluster's list", "task_id", id, "err", err)
	}
}

// forgetIf removes a task from the task list if it is still at
// generation gen (a failed add must not remove a later placement).
func (n *Node) forgetIf(ctx context.Context, id string, gen uint64) {
	// The cache, not Load: a read of the bucket may be served by a
	// replica that lags. The delete is a compare-and-set either way.
	e, ok := n.tasks.Get(id)
	if !ok || e.Generation != gen {
		return
	}
	if err := n.tasks.Delete(ctx, id, e.Revision); err != nil && !errors.Is(err, tasklist.ErrNotFound) {
		n.log.Warn("remove a task from the cluster's list", "task_id", id, "err", err)
	}
}

// forwardable says whether a local event goes into the cluster's stream:
// not when it is about a task this node no longer holds (dropped, or
// moved elsewhere while this node was away). It also gives the task's
// generation, for task.finished's id.
func (n *Node) forwardable(_ string, data json.RawMessage) (bool, uint64) {
	var d struct {
		TaskID string `json:"task_id"`
	}
	if json.Unmarshal(data, &d) != nil || d.TaskID == "" {
		return true, 0
	}
	if _, ok := n.dropping.Load(d.TaskID); ok {
		return false, 0
	}
	e, ok := n.tasks.Get(d.TaskID)
	if !ok {
		return true, 0
	}
	return e.Node == n.id, e.Generation
}
