package qbittorrent

import (
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// hashList parses a "hashes" (or "hash") parameter: "all", or info-hashes
// separated by "|". Hashes are matched case-insensitively, as
// qBittorrent does; a task's id is its lowercase hex v1 info-hash.
func hashList(v string) (all bool, ids []string) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "all") {
		return true, nil
	}
	for _, h := range strings.Split(v, "|") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			ids = append(ids, h)
		}
	}
	return false, ids
}

// tasksFor returns the tasks a "hashes" parameter names, oldest first.
// Hashes of no task are left out, as qBittorrent ignores them.
func (h *Handler) tasksFor(v string) []api.Task {
	all, ids := hashList(v)
	if all {
		return h.svc.List(service.ListFilter{})
	}
	tasks := make([]api.Task, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if t, err := h.svc.Get(id); err == nil {
			tasks = append(tasks, t)
		}
	}
	return tasks
}
