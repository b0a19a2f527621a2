package qbittorrent

import (
	"slices"

	"github.com/lodestone-bt/lodestone/internal/service"
)

// allTags is qBittorrent's tag list: Lodestone's labels are its tags, so
// every label of every task, sorted.
func (h *Handler) allTags() []string {
	var tags []string
	for _, t := range h.svc.List(service.ListFilter{}) {
		tags = append(tags, t.Labels...)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}
