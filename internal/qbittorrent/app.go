package qbittorrent

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"runtime"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
)

// appRoutes are app/* and transfer/*: what a client asks first to tell
// which server it talks to, and the session's settings and totals.
var appRoutes = map[string]route{
	"app/version":                    {fn: (*Handler).appVersion},
	"app/webapiVersion":              {fn: (*Handler).webapiVersion},
	"app/buildInfo":                  {fn: (*Handler).buildInfo},
	"app/preferences":                {fn: (*Handler).preferences},
	"app/setPreferences":             {fn: (*Handler).setPreferences, change: true},
	"app/defaultSavePath":            {fn: (*Handler).defaultSavePath},
	"app/shutdown":                   {fn: (*Handler).shutdown, change: true},
	"transfer/info":                  {fn: (*Handler).transferInfo},
	"transfer/speedLimitsMode":       {fn: (*Handler).speedLimitsMode},
	"transfer/toggleSpeedLimitsMode": {fn: (*Handler).toggleSpeedLimitsMode, change: true},
	"transfer/setSpeedLimitsMode":    {fn: (*Handler).setSpeedLimitsMode, change: true},
	"transfer/downloadLimit":         {fn: (*Handler).downloadLimit},
	"transfer/uploadLimit":           {fn: (*Handler).uploadLimit},
	"transfer/setDownloadLimit":      {fn: (*Handler).setDownloadLimit, change: true},
	"transfer/setUploadLimit":        {fn: (*Handler).setUploadLimit, change: true},
}

// textNoAltLimits answers the alternative speed limits, which Lodestone
// does not have.
const textNoAltLimits = "Alternative speed limits are not supported by Lodestone"

func (h *Handler) appVersion(w http.ResponseWriter, _ *http.Request) {
	writeText(w, AppVersion)
}

func (h *Handler) webapiVersion(w http.ResponseWriter, _ *http.Request) {
	writeText(w, WebAPIVersion)
}

// buildInfo is app/buildInfo. The libraries qBittorrent names are not
// ours: libtorrent is reported as Lodestone's engine, the rest empty.
func (h *Handler) buildInfo(w http.ResponseWriter, _ *http.Request) {
	info, _ := h.svc.Info()
	writeJSON(w, map[string]any{
		"qt":         "",
		"libtorrent": info.EngineVersion,
		"boost":      "",
		"openssl":    "",
		"zlib":       "",
		"bitness":    strconv.IntSize,
		"platform":   runtime.GOOS,
	})
}

// settingsError answers an error of the service's settings.
func settingsError(w http.ResponseWriter, err error) {
	writeStatus(w, http.StatusBadRequest, err.Error())
}

// preferences is app/preferences: the keys clients read, from
// Lodestone's settings and configuration. Times are in minutes and
// rates in bytes per second, as qBittorrent has them.
func (h *Handler) preferences(w http.ResponseWriter, _ *http.Request) {
	st, err := h.svc.Settings()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, err.Error())
		return
	}
	ratio := st.SeedRatioLimit
	if ratio <= 0 {
		ratio = -1
	}
	seedMinutes, idleMinutes := int64(-1), int64(-1)
	if st.SeedTimeLimit > 0 {
		seedMinutes = minutes(st.SeedTimeLimit)
	}
	if st.SeedIdleLimit > 0 {
		idleMinutes = minutes(st.SeedIdleLimit)
	}
	listenPort := st.PeerPort
	if h.peerPort != nil {
		if p := h.peerPort(); p > 0 {
			listenPort = p
		}
	}
	active := func(n int) int {
		if n <= 0 {
			return -1 // qBittorrent's "no limit"
		}
		return n
	}
	activeTorrents := -1
	if st.MaxActiveDownloads > 0 && st.MaxActiveSeeds > 0 {
		activeTorrents = st.MaxActiveDownloads + st.MaxActiveSeeds
	}
	filterOn, filterPath := h.ipFilterPrefs(st)
	prefs := map[string]any{
		"save_path":                         h.savePath(st),
		"temp_path_enabled":                 false,
		"temp_path":                         "",
		"auto_tmm_enabled":                  false,
		"add_stopped_enabled":               false,
		"start_paused_enabled":              false,
		"torrent_content_layout":            "Original",
		"preallocate_all":                   false,
		"incomplete_files_ext":              false,
		"max_ratio_enabled":                 st.SeedRatioLimit > 0,
		"max_ratio":                         ratio,
		"max_seeding_time_enabled":          st.SeedTimeLimit > 0,
		"max_seeding_time":                  seedMinutes,
		"max_inactive_seeding_time_enabled": st.SeedIdleLimit > 0,
		"max_inactive_seeding_time":         idleMinutes,
		// 0: stop the torrent, which is what Lodestone does at a limit
		// (state finished).
		"max_ratio_act":        0,
		"queueing_enabled":     st.MaxActiveDownloads > 0 || st.MaxActiveSeeds > 0,
		"max_active_downloads": active(st.MaxActiveDownloads),
		"max_active_uploads":   active(st.MaxActiveSeeds),
		"max_active_torrents":  activeTorrents,
		"dl_limit":             st.DownloadRateLimit,
		"up_limit":             st.UploadRateLimit,
		"alt_dl_limit":         int64(0),
		"alt_up_limit":         int64(0),
		"scheduler_enabled":    false,
		"listen_port":          listenPort,
		"random_port":          false,
		"upnp":                 h.upnp,
		"dht":                  h.dht,
		"pex":                  h.pex,
		"lsd":                  false,
		// encryption, anonymous_mode and proxy_*: netPrefs, below.
		"web_ui_port":             h.webUIPort,
		"web_ui_address":          h.webUIHost,
		"bypass_local_auth":       false,
		"max_connec":              -1,
		"max_connec_per_torrent":  -1,
		"max_uploads":             -1,
		"max_uploads_per_torrent": -1,
		"ip_filter_enabled":       filterOn,
		"ip_filter_path":          filterPath,
	}
	netPrefs(st, prefs)
	writeJSON(w, prefs)
}

// savePath is the default download dir: the setting, or the daemon's
// --download-dir.
func (h *Handler) savePath(st api.Settings) string {
	if st.DownloadDir != "" {
		return st.DownloadDir
	}
	return h.downloadDir
}

// errBadPrefs answers app/setPreferences without a valid json parameter.
var errBadPrefs = errors.New("'json' parameter is invalid")

// prefsParams maps the preferences Lodestone has to session settings.
// Keys it does not have are ignored, as qBittorrent ignores unknown
// keys (docs/COMPAT.md lists them).
func prefsParams(raw map[string]json.RawMessage) (api.SessionSetParams, error) {
	var p api.SessionSetParams
	get := func(key string, v any) (bool, error) {
		b, ok := raw[key]
		if !ok {
			return false, nil
		}
		if err := json.Unmarshal(b, v); err != nil {
			return false, errors.New("'" + key + "' parameter is invalid")
		}
		return true, nil
	}
	var (
		dl, ul                 int64
		ratio                  float64
		ratioOn, seedOn, queue bool
		idleOn                 bool
		seedMin, idleMin       int64
		maxDL, maxUL           int
		save                   string
		port                   int
	)
	for _, f := range []struct {
		key string
		v   any
		set func()
	}{
		{"dl_limit", &dl, func() { dl = max(dl, 0); p.DownloadRateLimit = &dl }},
		{"up_limit", &ul, func() { ul = max(ul, 0); p.UploadRateLimit = &ul }},
		{"max_ratio", &ratio, func() {
			r := ratio
			if r < 0 || math.IsNaN(r) {
				r = 0
			}
			p.SeedRatioLimit = &r
		}},
		{"max_seeding_time", &seedMin, func() {
			s := max(seedMin, 0) * 60
			p.SeedTimeLimit = &s
		}},
		{"max_inactive_seeding_time", &idleMin, func() {
			s := max(idleMin, 0) * 60
			p.SeedIdleLimit = &s
		}},
		{"max_active_downloads", &maxDL, func() { n := max(maxDL, 0); p.MaxActiveDownloads = &n }},
		{"max_active_uploads", &maxUL, func() { n := max(maxUL, 0); p.MaxActiveSeeds = &n }},
		{"save_path", &save, func() { p.DownloadDir = &save }},
		{"listen_port", &port, func() { p.PeerPort = &port }},
	} {
		ok, err := get(f.key, f.v)
		if err != nil {
			return p, err
		}
		if ok {
			f.set()
		}
	}
	// The *_enabled switches turn a limit off (0 in Lodestone) whatever
	// value comes with them.
	if ok, err := get("max_ratio_enabled", &ratioOn); err != nil {
		return p, err
	} else if ok && !ratioOn {
		zero := 0.0
		p.SeedRatioLimit = &zero
	}
	if ok, err := get("max_seeding_time_enabled", &seedOn); err != nil {
		return p, err
	} else if ok && !seedOn {
		zero := int64(0)
		p.SeedTimeLimit = &zero
	}
	if ok, err := get("max_inactive_seeding_time_enabled", &idleOn); err != nil {
		return p, err
	} else if ok && !idleOn {
		zero := int64(0)
		p.SeedIdleLimit = &zero
	}
	if ok, err := get("queueing_enabled", &queue); err != nil {
		return p, err
	} else if ok && !queue {
		zero := 0
		p.MaxActiveDownloads, p.MaxActiveSeeds = &zero, &zero
	}
	return p, nil
}

// setPreferences is app/setPreferences: json={...} with the keys to
// change.
func (h *Handler) setPreferences(w http.ResponseWriter, r *http.Request) {
	if !params(w, r) {
		return
	}
	if !has(r, "json") {
		writeStatus(w, http.StatusBadRequest, textMissingArgs+"json")
		return
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.FormValue("json")), &raw); err != nil {
		writeStatus(w, http.StatusBadRequest, errBadPrefs.Error())
		return
	}
	p, err := prefsParams(raw)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	st, err := h.svc.Settings()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, err.Error())
		return
	}
	if p.Blocklists, err = h.ipFilterParams(raw, st.Blocklists); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := netParams(raw, st, &p); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := h.svc.SetSettings(p); err != nil {
		settingsError(w, err)
		return
	}
	writeText(w, "")
}

// defaultSavePath is app/defaultSavePath.
func (h *Handler) defaultSavePath(w http.ResponseWriter, _ *http.Request) {
	st, _ := h.svc.Settings()
	writeText(w, h.savePath(st))
}

// shutdown is app/shutdown: refused, since a remote tool stopping the
// daemon is not something Lodestone's API offers (stop it with its
// service manager).
func (h *Handler) shutdown(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusForbidden, "Shutting down Lodestone through the qBittorrent API is not allowed")
}

// transferInfo is transfer/info: the session's rates, totals, limits
// and connection status.
func (h *Handler) transferInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, h.transferState())
}

// transferState is transfer/info's object, which sync/maindata's
// server_state extends. Values are int64 or strings, so sync can
// compare them with ==.
func (h *Handler) transferState() map[string]any {
	stats := h.svc.Stats()
	st, _ := h.svc.Settings()
	return map[string]any{
		"dl_info_speed":     stats.DownloadRate,
		"dl_info_data":      stats.Downloaded,
		"up_info_speed":     stats.UploadRate,
		"up_info_data":      stats.Uploaded,
		"dl_rate_limit":     st.DownloadRateLimit,
		"up_rate_limit":     st.UploadRateLimit,
		"dht_nodes":         int64(0),
		"connection_status": h.connectionStatus(),
	}
}

// connectionStatus is "connected" while the engine listens for peers
// and "disconnected" when it does not. qBittorrent says "firewalled"
// when no peer has connected in; Lodestone does not track that, so it
// never says so (docs/COMPAT.md).
func (h *Handler) connectionStatus() string {
	if h.listening != nil && !h.listening() {
		return "disconnected"
	}
	return "connected"
}

// speedLimitsMode is transfer/speedLimitsMode: "0", the normal limits,
// always (there are no alternative ones).
func (h *Handler) speedLimitsMode(w http.ResponseWriter, _ *http.Request) {
	writeText(w, "0")
}

// toggleSpeedLimitsMode is refused: there are no alternative limits to
// switch to.
func (h *Handler) toggleSpeedLimitsMode(w http.ResponseWriter, _ *http.Request) {
	writeStatus(w, http.StatusConflict, textNoAltLimits)
}

// setSpeedLimitsMode accepts mode 0 (already so) and refuses others.
func (h *Handler) setSpeedLimitsMode(w http.ResponseWriter, r *http.Request) {
	if !params(w, r) {
		return
	}
	if !has(r, "mode") {
		writeStatus(w, http.StatusBadRequest, textMissingArgs+"mode")
		return
	}
	mode, err := strconv.Atoi(r.FormValue("mode"))
	switch {
	case err != nil:
		writeStatus(w, http.StatusBadRequest, "'mode': invalid argument")
	case mode != 0:
		writeStatus(w, http.StatusConflict, textNoAltLimits)
	default:
		writeText(w, "")
	}
}

func (h *Handler) downloadLimit(w http.ResponseWriter, _ *http.Request) {
	st, _ := h.svc.Settings()
	writeText(w, strconv.FormatInt(st.DownloadRateLimit, 10))
}

func (h *Handler) uploadLimit(w http.ResponseWriter, _ *http.Request) {
	st, _ := h.svc.Settings()
	writeText(w, strconv.FormatInt(st.UploadRateLimit, 10))
}

// rateLimitParam reads transfer/set*Limit's "limit", bytes per second;
// 0 or less is no limit, as in qBittorrent.
func rateLimitParam(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if !params(w, r) {
		return 0, false
	}
	if !has(r, "limit") {
		writeStatus(w, http.StatusBadRequest, textMissingArgs+"limit")
		return 0, false
	}
	// qBittorrent reads it with toLongLong: garbage is 0, no limit.
	v, _ := strconv.ParseInt(r.FormValue("limit"), 10, 64)
	return max(v, 0), true
}

func (h *Handler) setDownloadLimit(w http.ResponseWriter, r *http.Request) {
	v, ok := rateLimitParam(w, r)
	if !ok {
		return
	}
	if _, err := h.svc.SetSettings(api.SessionSetParams{DownloadRateLimit: &v}); err != nil {
		settingsError(w, err)
		return
	}
	writeText(w, "")
}

func (h *Handler) setUploadLimit(w http.ResponseWriter, r *http.Request) {
	v, ok := rateLimitParam(w, r)
	if !ok {
		return
	}
	if _, err := h.svc.SetSettings(api.SessionSetParams{UploadRateLimit: &v}); err != nil {
		settingsError(w, err)
		return
	}
	writeText(w, "")
}
