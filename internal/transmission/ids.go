package transmission

import (
	"encoding/json"
	"fmt"
	"sync"
)

// idsKey is the store setting holding the id table.
const idsKey = "transmission_ids"

// Settings is the part of the store the id table is kept in: JSON values
// under a key, written durably.
type Settings interface {
	Setting(key string) ([]byte, error)
	PutSetting(key string, value []byte) error
}

// idTable gives every task (by info-hash) a stable integer id, as
// Transmission's clients expect: ids are handed out from a counter that
// never goes back, and the table is stored, so an id survives restarts
// and is never given to another task.
type idTable struct {
	st Settings

	mu sync.Mutex
	// guarded by mu
	rec idRecord
}

// idRecord is the stored form of the table.
type idRecord struct {
	Next int            `json:"next"` // the id the next new task gets
	IDs  map[string]int `json:"ids"`  // task id (info-hash) → id
}

func loadIDs(st Settings) (*idTable, error) {
	t := &idTable{st: st, rec: idRecord{Next: 1, IDs: map[string]int{}}}
	b, err := st.Setting(idsKey)
	if err != nil {
		return nil, fmt.Errorf("transmission: load ids: %w", err)
	}
	if b != nil {
		if err := json.Unmarshal(b, &t.rec); err != nil {
			return nil, fmt.Errorf("transmission: decode ids: %w", err)
		}
		if t.rec.IDs == nil {
			t.rec.IDs = map[string]int{}
		}
		if t.rec.Next < 1 {
			t.rec.Next = 1
		}
	}
	return t, nil
}

// lookup returns the id of task, if it has one.
func (t *idTable) lookup(task string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id, ok := t.rec.IDs[task]
	return id, ok
}

// assign returns the ids of tasks, giving the ones without one the next
// ids (in the order given) and storing the table if it changed. live
// lists every task that exists: entries of the others are dropped, while
// the counter keeps their ids from being handed out again.
func (t *idTable) assign(tasks []string, live func(string) bool) (map[string]int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	out := make(map[string]int, len(tasks))
	for _, task := range tasks {
		id, ok := t.rec.IDs[task]
		if !ok {
			id = t.rec.Next
			t.rec.Next++
			t.rec.IDs[task] = id
			changed = true
		}
		out[task] = id
	}
	if live != nil {
		for task := range t.rec.IDs {
			if !live(task) {
				delete(t.rec.IDs, task)
				changed = true
			}
		}
	}
	if !changed {
		return out, nil
	}
	b, err := json.Marshal(t.rec)
	if err != nil {
		return nil, err
	}
	if err := t.st.PutSetting(idsKey, b); err != nil {
		return nil, fmt.Errorf("transmission: store ids: %w", err)
	}
	return out, nil
}
