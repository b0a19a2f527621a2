package service

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// The queue order: every task has a place, 0 to n-1, which the API shows
// as queue_position and the download queue (queue.go) follows. A new task
// goes to the bottom, task.queue_move moves one, and a removal closes the
// gap. Each record stores a sparse key (store.Task.QueueOrder) rather than
// its position, so that a move rewrites one record (top, bottom) or two
// (up, down: the two swap keys), not every task it passes; positions are
// the ranks of the keys, kept in Service.queue.

// orderKey returns a key for a new task at the bottom. Service.mu must be
// held.
func (s *Service) orderKeyLocked() int64 {
	k := s.queueNext
	s.queueNext++
	return k
}

// restoreOrder sorts restored tasks into their queue order and gives a
// key to those stored before the order existed (key 0): after the
// others, oldest added first. It stores the keys it gave, and returns the
// next key for the bottom.
func (s *Service) restoreOrder(tasks []*task) int64 {
	slices.SortFunc(tasks, func(a, b *task) int {
		ka, kb := a.rec.QueueOrder, b.rec.QueueOrder
		if (ka == 0) != (kb == 0) {
			if ka == 0 {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(ka, kb), a.rec.AddedAt.Compare(b.rec.AddedAt), strings.Compare(a.rec.ID, b.rec.ID))
	})
	next := int64(1)
	writes := map[string]func(*store.Task){}
	for i, tk := range tasks {
		if tk.rec.QueueOrder == 0 {
			k := next
			tk.rec.QueueOrder = k
			writes[tk.rec.ID] = func(r *store.Task) { r.QueueOrder = k }
		}
		next = max(next, tk.rec.QueueOrder+1)
		tk.qpos = i
	}
	if len(writes) > 0 {
		// Kept in memory if this fails: the next start gives them keys
		// again, in the same order.
		if _, err := s.store.UpdateTasks(writes); err != nil {
			s.log.Error("store queue order", "tasks", len(writes), "err", err)
		}
	}
	return next
}

// enqueueLocked places tk, whose record has its key, in the queue order,
// and returns its position. It is the bottom unless an add that began
// later finished first. Service.mu must be held.
func (s *Service) enqueueLocked(tk *task) int {
	i, _ := slices.BinarySearchFunc(s.queue, tk.rec.QueueOrder, func(t *task, k int64) int { return cmp.Compare(t.rec.QueueOrder, k) })
	s.queue = slices.Insert(s.queue, i, tk)
	s.renumberLocked(i, len(s.queue)-1)
	return i
}

// dequeueLocked takes tk out of the queue order; those after it move up
// one. Service.mu must be held.
func (s *Service) dequeueLocked(tk *task) {
	i := tk.qpos
	if i >= len(s.queue) || s.queue[i] != tk {
		return
	}
	s.queue = slices.Delete(s.queue, i, i+1)
	s.renumberLocked(i, len(s.queue)-1)
}

// renumberLocked sets the positions of the tasks from index lo to hi.
// Service.mu must be held.
func (s *Service) renumberLocked(lo, hi int) {
	for i := lo; i <= hi && i < len(s.queue); i++ {
		s.queue[i].qpos = i
	}
}

// QueueMove moves a task in the queue order: to api.QueueTop, QueueUp,
// QueueDown or QueueBottom. A move stores one or two records, then
// publishes task.queue (none when the task does not move: up from the
// top, down from the bottom), and then lets the download queue follow the
// new order. It returns the task.
func (s *Service) QueueMove(id, to string) (api.Task, error) {
	switch to {
	case api.QueueTop, api.QueueUp, api.QueueDown, api.QueueBottom:
	default:
		return api.Task{}, fmt.Errorf("%w: to must be %q, %q, %q or %q", ErrInvalidParams, api.QueueTop, api.QueueUp, api.QueueDown, api.QueueBottom)
	}
	leave, err := s.enter()
	if err != nil {
		return api.Task{}, err
	}
	defer leave()
	// One move at a time: each is decided on the order the last one left.
	s.queueMu.Lock()
	defer s.queueMu.Unlock()

	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	if err == nil && tk.busy == api.BusyRemoving {
		err = fmt.Errorf("%w: task %s is being removed", ErrTaskState, tk.rec.ID)
	}
	if err != nil {
		s.mu.Unlock()
		return api.Task{}, err
	}
	keys := map[*task]int64{} // the new keys
	pos, last := tk.qpos, len(s.queue)-1
	switch {
	case to == api.QueueTop && pos > 0:
		k := s.queue[0].rec.QueueOrder - 1
		if k == 0 {
			k = -1 // 0 marks a record without a key
		}
		keys[tk] = k
	case to == api.QueueBottom && pos < last:
		keys[tk] = s.orderKeyLocked()
	case to == api.QueueUp && pos > 0:
		nb := s.queue[pos-1]
		keys[tk], keys[nb] = nb.rec.QueueOrder, tk.rec.QueueOrder
	case to == api.QueueDown && pos < last:
		nb := s.queue[pos+1]
		keys[tk], keys[nb] = nb.rec.QueueOrder, tk.rec.QueueOrder
	}
	if len(keys) == 0 {
		v := tk.view(s.taskDir(tk), s.clock(), s.node)
		s.mu.Unlock()
		return v, nil
	}
	s.mu.Unlock()

	writes := make(map[string]func(*store.Task), len(keys))
	for t, k := range keys {
		writes[t.rec.ID] = func(r *store.Task) { r.QueueOrder = k }
	}
	if _, err := s.store.UpdateTasks(writes); err != nil {
		return api.Task{}, err
	}

	x := s.lock()
	defer x.unlock()
	if s.tasks[tk.rec.ID] != tk {
		return api.Task{}, fmt.Errorf("%w: %s", ErrTaskNotFound, tk.rec.ID)
	}
	// Added or removed tasks may have shifted positions meanwhile; the
	// keys stay right. Take the moved task out, rekey (a neighbour that
	// swapped keeps its index), and put it back at its key's rank.
	from := tk.qpos
	s.queue = slices.Delete(s.queue, from, from+1)
	for t, k := range keys {
		if s.tasks[t.rec.ID] == t {
			t.rec.QueueOrder = k
		}
	}
	at, _ := slices.BinarySearchFunc(s.queue, tk.rec.QueueOrder, func(t *task, k int64) int { return cmp.Compare(t.rec.QueueOrder, k) })
	s.queue = slices.Insert(s.queue, at, tk)
	s.renumberLocked(min(from, at), max(from, at))
	x.emit(api.EventTaskQueue, api.TaskQueueData{TaskID: tk.rec.ID, From: from, To: at})
	s.requeueLocked(x)
	return tk.view(s.taskDir(tk), s.clock(), s.node), nil
}
