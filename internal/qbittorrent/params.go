package qbittorrent

import (
	"net/http"
	"strings"
)

// has reports whether r carries parameter name (r's form is parsed).
// qBittorrent tells an absent parameter from an empty one (category,
// tag).
func has(r *http.Request, name string) bool {
	_, ok := r.Form[name]
	return ok
}

// parseBool is qBittorrent's boolean: "true" or "false" in any case;
// anything else is no value (ok false).
func parseBool(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(strings.TrimSpace(s), "true"):
		return true, true
	case strings.EqualFold(strings.TrimSpace(s), "false"):
		return false, true
	}
	return false, false
}
