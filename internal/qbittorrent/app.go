package qbittorrent

import "net/http"

// appRoutes are app/* and transfer/*: what a client asks first to tell
// which server it talks to, and the session's settings and totals.
var appRoutes = map[string]route{
	"app/version":       {fn: (*Handler).appVersion},
	"app/webapiVersion": {fn: (*Handler).webapiVersion},
}

func (h *Handler) appVersion(w http.ResponseWriter, _ *http.Request) {
	writeText(w, AppVersion)
}

func (h *Handler) webapiVersion(w http.ResponseWriter, _ *http.Request) {
	writeText(w, WebAPIVersion)
}
