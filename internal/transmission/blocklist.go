package transmission

import (
	"context"
	"errors"
	"slices"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Transmission's blocklist, mapped onto Lodestone's blocklists setting
// (a list of files and URLs, all in force; [] is none). Transmission has
// one URL and a switch: blocklist-enabled is "some list is in force",
// blocklist-url is the first URL among them, and blocklist-size the
// rules they hold. Setting blocklist-url replaces the URLs in force with
// it (files set through the native API or qBittorrent's ip_filter_path
// stay); turning the switch off removes every list, remembered for this
// run so that turning it on again restores them, as Transmission keeps
// its list on disk while the switch is off. Unlike Transmission, a URL
// set while the switch is on is fetched at once, not at the next
// blocklist-update.

// blocklistFields adds the blocklist keys to session-get's reply m.
func (h *Handler) blocklistFields(set api.Settings, m map[string]any) {
	h.mu.Lock()
	off := h.blocklistsOff
	h.mu.Unlock()
	u := firstURL(set.Blocklists)
	if len(set.Blocklists) == 0 {
		u = firstURL(off)
	}
	m["blocklist-enabled"] = len(set.Blocklists) > 0
	m["blocklist-size"] = set.BlocklistRules
	m["blocklist-url"] = u
}

// firstURL is the first http(s) source of sources, "" if none.
func firstURL(sources []string) string {
	for _, s := range sources {
		if blocklist.IsURL(s) {
			return s
		}
	}
	return ""
}

// blocklistParams reads session-set's blocklist_enabled and
// blocklist_url against the lists in force, cur. It returns the lists to
// put in force, nil when they do not change (a client that sends its
// whole settings form back with the same URL does not make every list
// be fetched again).
func (h *Handler) blocklistParams(a args, cur []string) (*[]string, error) {
	u, hasURL, err := a.str("blocklist_url")
	if err != nil {
		return nil, err
	}
	on, hasOn, err := a.boolean("blocklist_enabled")
	if err != nil {
		return nil, err
	}
	if !hasURL && !hasOn {
		return nil, nil
	}
	if hasURL && u != "" && !blocklist.IsURL(u) {
		return nil, invalid("blocklist_url", "an http or https URL")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	base := cur
	if len(cur) == 0 {
		base = h.blocklistsOff
	}
	next := slices.Clone(base)
	if hasURL {
		next = slices.DeleteFunc(next, blocklist.IsURL)
		if u != "" {
			next = append(next, u)
		}
	}
	enabled := len(cur) > 0
	if hasOn {
		enabled = on
	}
	if !enabled {
		if len(next) > 0 {
			h.blocklistsOff = next
		}
		next = []string{}
	}
	if slices.Equal(next, cur) {
		return nil, nil
	}
	return &next, nil
}

// blocklistUpdate fetches and reads again every list in force, files
// and URLs alike, and answers the rules they hold. With none in force it
// fails, as Transmission does without a blocklist URL.
func (h *Handler) blocklistUpdate(_ context.Context, _ args) (map[string]any, error) {
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	if len(set.Blocklists) == 0 {
		return nil, failed(codeInvalidBlocklist, "no blocklist is enabled (set blocklist-url and blocklist-enabled)")
	}
	lists := set.Blocklists
	set, err = h.svc.SetSettings(api.SessionSetParams{Blocklists: &lists})
	if err != nil {
		if errors.Is(err, service.ErrInvalidParams) {
			// A list that cannot be fetched or read: nothing changed.
			return nil, failed(codeInvalidBlocklist, "blocklist-update: %v", err)
		}
		return nil, err
	}
	return map[string]any{"blocklist-size": set.BlocklistRules}, nil
}
