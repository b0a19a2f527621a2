// Package qbittorrent serves qBittorrent's WebUI API v2 under /api/v2/,
// so tools written for qBittorrent (Sonarr, Radarr, Home Assistant,
// Flood, VueTorrent, @ctrl/qbittorrent, …) drive Lodestone unchanged. It
// is a translation layer over the service's public methods; what it keeps
// of its own is the login sessions (auth.go) and the state the sync
// endpoint needs to send deltas (sync.go).
//
// The endpoints are split by what they do: auth.go logs in and out,
// app.go answers app/* and transfer/*, reads.go the torrents/* reads,
// actions.go the torrents/* changes, sync.go sync/*. Each contributes its
// routes to the one table ServeHTTP dispatches on.
//
// Every request passes the daemon's httpguard.Guard's Host gate and
// qBittorrent's own CSRF rule (an Origin or Referer, when present, must
// name the host the request was sent to); then the credential: the SID
// cookie from auth/login, or "Authorization: Bearer <token>" as newer
// clients send; an API key works wherever the token does, held to its
// scope (scope.go).
package qbittorrent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Prefix is where the API is served.
const Prefix = "/api/v2/"

// The versions reported. Clients gate features on them: Sonarr wants a
// webapi version of at least 2.0 and uses torrents/stop|start from 2.11
// on; 2.11.2 is qBittorrent 5.0's. The app version is qBittorrent's
// form ("v5.0.0"); the suffix tells a human what answers.
const (
	WebAPIVersion = "2.11.2"
	AppVersion    = "v5.0.0 (lodestone)"
)

// maxBody caps a request body: a multipart add of several .torrent
// files of the engine's largest accepted size fits.
const maxBody = 64 << 20

// Service is what the API needs of the service; *service.Service has it.
type Service interface {
	Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error)
	Get(id string) (api.Task, error)
	List(f service.ListFilter) []api.Task
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	Recheck(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, deleteData bool) error
	Move(id, dir string) (api.Task, error)
	Set(id string, p api.TaskSetParams) (api.Task, error)
	Files(id string) (api.TaskFilesResult, error)
	Peers(id string) (api.TaskPeersResult, error)
	Trackers(id string) (api.TaskTrackersResult, error)
	AddTrackers(id string, urls []string) (api.TaskTrackersResult, error)
	Pieces(id string) (api.TaskPiecesResult, error)
	Export(id string) (api.TaskExportResult, error)
	RemoveTrackers(id string, urls []string) (api.TaskTrackersResult, error)
	Categories() []api.Category
	SetCategory(c api.Category) (api.Category, error)
	RemoveCategory(name string) error
	QueueMove(id, to string) (api.Task, error)
	Reannounce(ctx context.Context, id string) error
	Settings() (api.Settings, error)
	SetSettings(p api.SessionSetParams) (api.Settings, error)
	Stats() api.SessionStats
	Info() (api.ServerInfo, error)
}

// Config configures a Handler.
type Config struct {
	Service Service
	Guard   *httpguard.Guard
	Logger  *slog.Logger
	// OnAdmit, if set, is called with every request that passed with a
	// session cookie (a bearer token is admitted by the Guard itself).
	OnAdmit func(*http.Request)
	// Settings keeps the tags created by torrents/createTags (tags.go);
	// nil keeps them in memory only.
	Settings Settings
	// Events, if set, is the hub sync/maindata learns of task changes
	// from (Run subscribes to it). Without it every sync/maindata
	// request reads every task again.
	Events *events.Hub
	// DownloadDir is the daemon's default download dir, reported when
	// the settings name none.
	DownloadDir string
	// DHT, PEX and UPnP report the engine's configuration in
	// app/preferences and torrents/trackers.
	DHT, PEX, UPnP bool
	// WebUIHost and WebUIPort are the address the API is served on, for
	// app/preferences' web_ui_address and web_ui_port.
	WebUIHost string
	WebUIPort int
	// PeerPort, if set, returns the BitTorrent listen port (listen_port).
	PeerPort func() int
	// Listening, if set, reports whether the engine listens for peers
	// (transfer/info's connection_status).
	Listening func() bool
}

// Handler serves the API. It is safe for concurrent use.
type Handler struct {
	svc      Service
	guard    *httpguard.Guard
	log      *slog.Logger
	sessions *sessions
	routes   map[string]route
	admit    func(*http.Request)
	sync     *syncState
	tags     *tagStore // tags.go
	// catMu serialises the category changes made through the API, so
	// that a check that a category exists holds until the change.
	catMu sync.Mutex

	hub            *events.Hub
	downloadDir    string
	dht, pex, upnp bool
	webUIHost      string
	webUIPort      int
	peerPort       func() int
	listening      func() bool
	// ipFilter remembers the blocklists turned off (ipfilter.go).
	ipFilter ipFilterMemory
}

// route is one endpoint: its function, and whether it changes anything
// (then only POST is accepted, as qBittorrent 4.4 and later require).
type route struct {
	fn     func(h *Handler, w http.ResponseWriter, r *http.Request)
	change bool
}

// New returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Guard == nil {
		return nil, errors.New("qbittorrent: Service and Guard are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		svc:      cfg.Service,
		guard:    cfg.Guard,
		log:      cfg.Logger,
		sessions: newSessions(),
		routes:   map[string]route{},
		admit:    cfg.OnAdmit,
		sync:     newSyncState(),

		hub:         cfg.Events,
		downloadDir: cfg.DownloadDir,
		dht:         cfg.DHT,
		pex:         cfg.PEX,
		upnp:        cfg.UPnP,
		webUIHost:   cfg.WebUIHost,
		webUIPort:   cfg.WebUIPort,
		peerPort:    cfg.PeerPort,
		listening:   cfg.Listening,
	}
	var err error
	if h.tags, err = loadTags(cfg.Settings); err != nil {
		return nil, err
	}
	for _, table := range []map[string]route{authRoutes, appRoutes, readRoutes, actionRoutes, syncRoutes, exportRoutes} {
		for name, rt := range table {
			if _, dup := h.routes[name]; dup {
				return nil, fmt.Errorf("qbittorrent: route %s defined twice", name)
			}
			h.routes[name] = rt
		}
	}
	return h, nil
}

// ServeHTTP answers one API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if ref := h.guard.CheckHost(r); ref != nil {
		h.guard.Refuse(w, r, ref)
		return
	}
	if !sameHostCSRF(r) {
		// qBittorrent answers a failed CSRF check with 401.
		writeStatus(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	rt, ok := h.routes[name]
	if !ok {
		writeStatus(w, http.StatusNotFound, "Not Found")
		return
	}
	if rt.change && r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeStatus(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeStatus(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if name != "auth/login" {
		p, ok := h.authorized(w, r)
		if !ok {
			return
		}
		if !p.Allows(routeScope(name, rt)) {
			// qBittorrent's one refusal, as for a missing login.
			writeStatus(w, http.StatusForbidden, "Forbidden")
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			// A bad request never takes the daemon down.
			h.log.Error("qbittorrent api panicked", "endpoint", name, "panic", fmt.Sprint(p))
			writeStatus(w, http.StatusInternalServerError, "Internal Server Error")
		}
	}()
	rt.fn(h, w, r)
	if rt.change && !strings.HasPrefix(name, "auth/") {
		h.touched(r)
	}
}

// touched tells sync/maindata which tasks a change request may have
// changed: those its hash or hashes parameter names, or all of them.
// Not every change is an event of the service (labels, limits, moves
// are not), so the request's own names are the sure way to know.
func (h *Handler) touched(r *http.Request) {
	if r.Form == nil {
		h.sync.markAll()
		return
	}
	v := r.Form.Get("hashes")
	if v == "" {
		v = r.Form.Get("hash")
	}
	all, ids := hashList(v)
	if all || len(ids) == 0 {
		h.sync.markAll()
		return
	}
	h.sync.mark(ids...)
}

// sameHostCSRF is qBittorrent's CSRF rule: an Origin or Referer header,
// when present, must name the host the request was sent to.
func sameHostCSRF(r *http.Request) bool {
	for _, v := range []string{r.Header.Get("Origin"), r.Header.Get("Referer")} {
		if v == "" {
			continue
		}
		_, rest, ok := strings.Cut(v, "://")
		if !ok {
			return false
		}
		hostport, _, _ := strings.Cut(rest, "/")
		if !strings.EqualFold(hostport, r.Host) {
			return false
		}
	}
	return true
}
