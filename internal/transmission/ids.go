package transmission

import (
	"cmp"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// idTable gives every task (by info-hash) a stable integer id, as
// Transmission's clients expect: ids are handed out from a counter that
// never goes back, and the table is stored (IDStore), so an id survives
// restarts and is never given to another task. It also remembers, in
// memory, the ids of the tasks removed lately, for "recently-active".
type idTable struct {
	st IDStore

	mu sync.Mutex
	// guarded by mu
	next    int
	ids     map[string]int // task id (info-hash) → id
	removed []removal      // oldest first, at most maxRemoved
}

// removal is a task's id and when its removal was seen.
type removal struct {
	id int
	at time.Time
}

// maxRemoved bounds the removals remembered.
const maxRemoved = 1000

// recentWindow is how far back "recently-active" looks, as Transmission.
const recentWindow = 60 * time.Second

// loadIDs loads the table. Damage is repaired, not fatal: a value that
// cannot be read is dropped (its task gets a new id when next listed), two
// tasks sharing an id keep it for one of them, and the counter is put
// above every id kept. Only a store that cannot be read is an error.
func loadIDs(st IDStore, log *slog.Logger) (*idTable, error) {
	rec, err := st.TransmissionIDs()
	if err != nil {
		return nil, err
	}
	if rec.Migrated > 0 {
		log.Info("transmission ids moved from the settings to their own bucket", "ids", rec.Migrated)
	}
	if rec.MigrationErr != nil {
		log.Warn("transmission ids in the settings could not be read: tasks get new ids", "err", rec.MigrationErr)
	}
	for _, d := range rec.Damaged {
		log.Warn("transmission id table damaged: value dropped", "what", d)
	}
	t := &idTable{st: st, next: max(rec.Next, 1), ids: map[string]int{}}
	owner := map[int]string{}
	var drop []string
	// In task order, so that which task keeps a shared id is fixed.
	for _, task := range slices.Sorted(maps.Keys(rec.IDs)) {
		id := rec.IDs[task]
		if other, dup := owner[id]; dup {
			log.Warn("transmission id table damaged: two tasks share an id; the second gets a new one", "id", id, "kept", other, "task", task)
			drop = append(drop, task)
			continue
		}
		owner[id] = task
		t.ids[task] = id
		t.next = max(t.next, id+1)
	}
	if len(drop) > 0 || t.next != rec.Next || len(rec.Damaged) > 0 {
		if err := st.PutTransmissionIDs(t.next, nil, drop); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// lookup returns the id of task, if it has one.
func (t *idTable) lookup(task string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[task]
	return id, ok
}

// assign returns the ids of tasks, giving the ones without one the next
// ids (in the order given) and storing what changed. live, if not nil,
// tells which tasks exist (it is called with t.mu held, so it must not
// call back into the table): the others are dropped from the table and
// remembered as removed now, while the counter keeps their ids from being
// handed out again.
func (t *idTable) assign(tasks []string, live func(string) bool) (map[string]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := map[string]int{}
	out := make(map[string]int, len(tasks))
	next := t.next
	for _, task := range tasks {
		id, ok := t.ids[task]
		if !ok {
			if id, ok = set[task]; !ok {
				id = next
				next++
				set[task] = id
			}
		}
		out[task] = id
	}
	var del []string
	if live != nil {
		for task := range t.ids {
			if !live(task) {
				del = append(del, task)
			}
		}
	}
	if len(set) == 0 && len(del) == 0 {
		return out, nil
	}
	// Stored first: an id handed out is one the store has.
	if err := t.st.PutTransmissionIDs(next, set, del); err != nil {
		return nil, err
	}
	t.next = next
	maps.Copy(t.ids, set)
	now := time.Now()
	slices.Sort(del)
	for _, task := range del {
		t.removedLocked(t.ids[task], now)
		delete(t.ids, task)
	}
	return out, nil
}

// forget drops task from the table (it was removed), remembering its id
// as removed now.
func (t *idTable) forget(task string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.ids[task]
	if !ok {
		return nil
	}
	if err := t.st.PutTransmissionIDs(t.next, nil, []string{task}); err != nil {
		return err
	}
	delete(t.ids, task)
	t.removedLocked(id, time.Now())
	return nil
}

func (t *idTable) removedLocked(id int, at time.Time) {
	t.removed = append(t.removed, removal{id, at})
	if n := len(t.removed) - maxRemoved; n > 0 {
		t.removed = slices.Delete(t.removed, 0, n)
	}
}

// recentlyRemoved returns the ids of the tasks removed since since,
// ascending.
func (t *idTable) recentlyRemoved(since time.Time) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []int{}
	for _, r := range t.removed {
		if !r.at.Before(since) {
			out = append(out, r.id)
		}
	}
	slices.SortFunc(out, cmp.Compare)
	return out
}
