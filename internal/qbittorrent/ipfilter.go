package qbittorrent

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/blocklist"
)

// qBittorrent's IP filter, mapped onto Lodestone's blocklists setting
// (a list of files and URLs, all in force; [] is none). qBittorrent has
// one filter file and a switch: ip_filter_enabled is "some list is in
// force", ip_filter_path the first file among them. Setting
// ip_filter_path replaces the files in force with it (URLs set through
// the native API or Transmission's blocklist-url stay); turning the
// switch off removes every list, remembered for this run so that turning
// it on again restores them, as qBittorrent keeps its path while the
// switch is off. banned_IPs (addresses typed in by hand) has no
// counterpart: Lodestone's lists are files and URLs.

// ipFilterMemory holds the lists turned off through ip_filter_enabled.
// The zero value is ready.
type ipFilterMemory struct {
	mu  sync.Mutex
	off []string
}

// ipFilterPrefs are preferences' IP filter keys for the lists in force.
func (h *Handler) ipFilterPrefs(st api.Settings) (enabled bool, path string) {
	if len(st.Blocklists) > 0 {
		return true, firstFile(st.Blocklists)
	}
	h.ipFilter.mu.Lock()
	defer h.ipFilter.mu.Unlock()
	return false, firstFile(h.ipFilter.off)
}

// firstFile is the first source of sources that is not a URL, "" if none.
func firstFile(sources []string) string {
	for _, s := range sources {
		if !blocklist.IsURL(s) {
			return s
		}
	}
	return ""
}

// ipFilterParams reads setPreferences' ip_filter_enabled and
// ip_filter_path against the lists in force, cur. It returns the lists to
// put in force, nil when they do not change (qBittorrent's web UI sends
// every preference back on save: the lists are not read again for it).
func (h *Handler) ipFilterParams(raw map[string]json.RawMessage, cur []string) (*[]string, error) {
	var (
		on, hasOn     bool
		path, hasPath = "", false
	)
	if b, ok := raw["ip_filter_enabled"]; ok {
		if err := json.Unmarshal(b, &on); err != nil {
			return nil, errors.New("'ip_filter_enabled' parameter is invalid")
		}
		hasOn = true
	}
	if b, ok := raw["ip_filter_path"]; ok {
		if err := json.Unmarshal(b, &path); err != nil {
			return nil, errors.New("'ip_filter_path' parameter is invalid")
		}
		hasPath = true
	}
	if !hasOn && !hasPath {
		return nil, nil
	}
	h.ipFilter.mu.Lock()
	defer h.ipFilter.mu.Unlock()
	base := cur
	if len(cur) == 0 {
		base = h.ipFilter.off
	}
	next := slices.Clone(base)
	if hasPath {
		next = slices.DeleteFunc(next, func(s string) bool { return !blocklist.IsURL(s) })
		if path != "" {
			next = append(next, path)
		}
	}
	enabled := len(cur) > 0
	if hasOn {
		enabled = on
	}
	if !enabled {
		if len(next) > 0 {
			h.ipFilter.off = next
		}
		next = []string{}
	}
	if slices.Equal(next, cur) {
		return nil, nil
	}
	return &next, nil
}
