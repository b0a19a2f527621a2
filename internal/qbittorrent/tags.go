package qbittorrent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/lodestone-bt/lodestone/internal/service"
)

// qBittorrent's tags are Lodestone's labels: a task's tags are its
// labels, and the tag list is every label of every task plus the tags
// created with torrents/createTags and not used yet, which Lodestone
// keeps in the store's settings so that they survive a restart.

// tagsKey is the store setting holding the created tags.
const tagsKey = "qbittorrent_tags"

// Limits on created tags: a tag must be usable as a label (1 to 64
// characters), and the list is capped so that requests in a loop cannot
// grow the store without bound.
const (
	maxTagLen     = 64
	maxCreatedTag = 4096
)

// Settings is the part of the store the created tags are kept in: JSON
// values under a key, written durably. *store.Store has it.
type Settings interface {
	Setting(key string) ([]byte, error)
	PutSetting(key string, value []byte) error
}

// tagStore holds the created tags. Its mutex also serialises the label
// changes made through this API (labelsOp).
type tagStore struct {
	st Settings // nil: kept in memory only

	mu sync.Mutex
	// guarded by mu; sorted
	created []string
}

func loadTags(st Settings) (*tagStore, error) {
	s := &tagStore{st: st}
	if st == nil {
		return s, nil
	}
	b, err := st.Setting(tagsKey)
	if err != nil {
		return nil, fmt.Errorf("qbittorrent: load tags: %w", err)
	}
	if b != nil {
		if err := json.Unmarshal(b, &s.created); err != nil {
			return nil, fmt.Errorf("qbittorrent: decode tags: %w", err)
		}
		slices.Sort(s.created)
		s.created = slices.Compact(s.created)
	}
	return s, nil
}

// list returns the created tags, sorted; none for a nil store (a
// Handler not made by New).
func (s *tagStore) list() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created)
}

// setLocked stores tags as the created tags. s.mu is held.
func (s *tagStore) setLocked(tags []string) error {
	slices.Sort(tags)
	tags = slices.Compact(tags)
	if s.st != nil && !slices.Equal(tags, s.created) {
		b, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		if err := s.st.PutSetting(tagsKey, b); err != nil {
			return fmt.Errorf("qbittorrent: store tags: %w", err)
		}
	}
	s.created = tags
	return nil
}

// parseTags splits a "tags" parameter on commas, trimming each tag and
// skipping empty ones, as qBittorrent does.
func parseTags(v string) []string {
	var tags []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// validTag reports whether t can be a label.
func validTag(t string) bool {
	if t == "" || utf8.RuneCountInString(t) > maxTagLen || !utf8.ValidString(t) {
		return false
	}
	return !strings.ContainsFunc(t, unicode.IsControl)
}

// allTags is qBittorrent's tag list: every label of every task and every
// created tag, sorted.
func (h *Handler) allTags() []string {
	tags := h.tags.list()
	for _, t := range h.svc.List(service.ListFilter{}) {
		tags = append(tags, t.Labels...)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// tagList is torrents/tags: a JSON array of every tag.
func (h *Handler) tagList(w http.ResponseWriter, _ *http.Request) {
	tags := h.allTags()
	if tags == nil {
		tags = []string{}
	}
	writeJSON(w, tags)
}

// createTags is torrents/createTags: tags (comma-separated). A tag that
// cannot be a label is skipped, as qBittorrent skips invalid tags.
func (h *Handler) createTags(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "tags") {
		return
	}
	h.tags.mu.Lock()
	defer h.tags.mu.Unlock()
	tags := slices.Clone(h.tags.created)
	for _, t := range parseTags(r.FormValue("tags")) {
		if validTag(t) {
			tags = append(tags, t)
		}
	}
	if len(tags) > maxCreatedTag {
		writeStatus(w, http.StatusConflict, fmt.Sprintf("at most %d tags can be created", maxCreatedTag))
		return
	}
	if err := h.tags.setLocked(tags); err != nil {
		h.fail(w, err)
		return
	}
	writeText(w, "")
}

// deleteTags is torrents/deleteTags: tags (comma-separated) are deleted
// from the tag list and from every task that has them.
func (h *Handler) deleteTags(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "tags") {
		return
	}
	gone := parseTags(r.FormValue("tags"))
	h.tags.mu.Lock()
	defer h.tags.mu.Unlock()
	keep := slices.DeleteFunc(slices.Clone(h.tags.created), func(t string) bool { return slices.Contains(gone, t) })
	if err := h.tags.setLocked(keep); err != nil {
		h.fail(w, err)
		return
	}
	var first error
	for _, t := range h.svc.List(service.ListFilter{}) {
		if !slices.ContainsFunc(t.Labels, func(l string) bool { return slices.Contains(gone, l) }) {
			continue
		}
		err := h.labelsOpLocked(t.TaskID, func(labels []string) []string {
			return slices.DeleteFunc(labels, func(l string) bool { return slices.Contains(gone, l) })
		})
		if err != nil && !errors.Is(err, service.ErrTaskNotFound) && first == nil {
			first = err
		}
	}
	if first != nil {
		h.fail(w, first)
		return
	}
	writeText(w, "")
}

// addTags is torrents/addTags: hashes and tags (comma-separated) added
// to each task's labels.
func (h *Handler) addTags(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes", "tags") {
		return
	}
	add := parseTags(r.FormValue("tags"))
	h.each(w, r, func(id string) error {
		return h.labelsOp(id, func(labels []string) []string {
			for _, t := range add {
				if !slices.Contains(labels, t) {
					labels = append(labels, t)
				}
			}
			return labels
		})
	})
}

// removeTags is torrents/removeTags: hashes, and tags (comma-separated)
// removed from each task's labels; without tags, every tag is removed.
func (h *Handler) removeTags(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	gone := parseTags(r.FormValue("tags"))
	h.each(w, r, func(id string) error {
		return h.labelsOp(id, func(labels []string) []string {
			if len(gone) == 0 {
				return nil
			}
			return slices.DeleteFunc(labels, func(l string) bool { return slices.Contains(gone, l) })
		})
	})
}
