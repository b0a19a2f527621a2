package service

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// memStore's path reservations: the store's rules (store/paths.go), by a
// plain scan.

// conflictLocked returns the conflict of id's paths with another task's.
// m.mu must be held.
func (m *memStore) conflictLocked(id string, paths []string) error {
	for other, held := range m.paths {
		if other == id {
			continue
		}
		for _, p := range paths {
			for _, h := range held {
				sep := string(filepath.Separator)
				if p == h || strings.HasPrefix(p, h+sep) || strings.HasPrefix(h, p+sep) {
					return &store.PathConflictError{Path: p, Held: h, TaskID: other}
				}
			}
		}
	}
	return nil
}

func (m *memStore) PutTaskPaths(t store.Task, paths []string) error {
	m.mu.Lock()
	if err := m.conflictLocked(t.ID, paths); err != nil {
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	if err := m.PutTask(t); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.paths == nil {
		m.paths = map[string][]string{}
	}
	m.paths[t.ID] = slices.Clone(paths)
	return nil
}

func (m *memStore) UpdateTaskPaths(id string, paths []string, fn func(*store.Task)) error {
	return m.UpdateTaskPathsClearJournal(id, paths, fn, "")
}

func (m *memStore) UpdateTaskPathsClearJournal(id string, paths []string, fn func(*store.Task), op string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.conflictLocked(id, paths); err != nil {
		return err
	}
	if err := m.writeLocked(); err != nil {
		return err
	}
	if fn == nil {
		fn = func(*store.Task) {}
	}
	if err := m.updateLocked(id, fn); err != nil {
		return err
	}
	if m.paths == nil {
		m.paths = map[string][]string{}
	}
	m.paths[id] = slices.Clone(paths)
	if op != "" {
		delete(m.journal, op+"/"+id)
	}
	return nil
}

func (m *memStore) TaskPaths(id string) ([]string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.paths[id]
	return slices.Clone(p), ok, nil
}

func (m *memStore) DeleteTaskLeaving(id string) error {
	m.mu.Lock()
	paths := m.paths[id]
	m.mu.Unlock()
	if err := m.DeleteTask(id); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.left == nil {
		m.left = map[string]string{}
	}
	for _, p := range paths {
		m.left[p] = id
	}
	return nil
}

func (m *memStore) LeftBy(id string, paths []string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, p := range paths {
		if m.left[p] == id {
			out = append(out, p)
		}
	}
	return out, nil
}
