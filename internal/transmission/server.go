// Package transmission serves Transmission's RPC at /transmission/rpc, so
// tools written for Transmission (Sonarr, Radarr, transmission-remote,
// Flood, Home Assistant, @ctrl/transmission, …) drive Lodestone unchanged.
// It speaks both of Transmission's protocols on one endpoint: the legacy
// one ({"method","arguments","tag"} → {"result","arguments","tag"}, names
// in kebab-case or camelCase) and Transmission 4.1's JSON-RPC 2.0 (names in
// snake_case, error objects with codes, batches and notifications). Both
// run the same methods: names are translated at the edge (args.go).
//
// It is a translation layer over the service's public methods and keeps
// no task state of its own, except the integer ids Transmission's clients
// use (idTable, kept in the store) and, in memory, the ids of tasks
// removed in the last minute (for torrent-get's "recently-active").
//
// Requests pass the daemon's httpguard.Guard first (Host, Origin,
// backoff), with HTTP Basic auth whose password is the API token; then
// the X-Transmission-Session-Id handshake, which Transmission uses
// against cross-site request forgery.
package transmission

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Path is where the RPC is served.
const Path = "/transmission/rpc"

// Header names of the handshake.
const (
	SessionIDHeader  = "X-Transmission-Session-Id"
	RPCVersionHeader = "X-Transmission-Rpc-Version"
)

// The versions reported: Transmission 4.1's, whose two protocols are the
// ones served.
const (
	RPCVersion        = 18
	RPCVersionMinimum = 14
	RPCVersionSemver  = "6.0.0"
	// Version is the version string session-get reports. Clients parse
	// it as Transmission's (Sonarr refuses one below 2.40); the
	// parenthesis tells a human what answers.
	Version = "4.1.0 (lodestone)"
)

// maxBody caps a request body: a base64 .torrent of the engine's largest
// accepted size fits with room to spare.
const maxBody = 64 << 20

// maxBatch caps the requests of one JSON-RPC batch.
const maxBatch = 1000

// Service is what the RPC needs of the service; *service.Service has it.
type Service interface {
	Add(ctx context.Context, p api.TaskAddParams) (api.TaskAddResult, error)
	Get(id string) (api.Task, error)
	List(f service.ListFilter) []api.Task
	Pause(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	Recheck(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, deleteData bool) error
	Files(id string) (api.TaskFilesResult, error)
	Pieces(id string) (api.TaskPiecesResult, error)
	Peers(id string) (api.TaskPeersResult, error)
	Trackers(id string) (api.TaskTrackersResult, error)
	AddTrackers(id string, urls []string) (api.TaskTrackersResult, error)
	RemoveTrackers(id string, urls []string) (api.TaskTrackersResult, error)
	Set(id string, p api.TaskSetParams) (api.Task, error)
	Move(id, dir string) (api.Task, error)
	Reannounce(ctx context.Context, id string) error
	QueueMove(id, to string) (api.Task, error)
	DiskSpace(dir string) (free, total int64, err error)
	Settings() (api.Settings, error)
	SetSettings(p api.SessionSetParams) (api.Settings, error)
	Stats() api.SessionStats
	Info() (api.ServerInfo, error)
}

// IDStore is where the id table is kept; *store.Store has it.
type IDStore interface {
	TransmissionIDs() (store.TransmissionIDs, error)
	PutTransmissionIDs(next int, set map[string]int, del []string) error
}

// Config configures a Handler.
type Config struct {
	Service Service
	IDs     IDStore
	Guard   *httpguard.Guard
	// DownloadDir is the daemon's --download-dir, the default download
	// dir while the session's setting is "".
	DownloadDir string
	// PeersPerTask is the most peers the engine connects a task to,
	// reported as Transmission's per-torrent peer limit.
	PeersPerTask int
	// Network is what the engine does on the network, reported in
	// session-get.
	Network Network
	Logger  *slog.Logger
}

// Network is the engine's network setup in Transmission's terms.
type Network struct {
	DHT, UTP, PortForwarding bool
	// PEX reports peer exchange (both cores exchange peers on public
	// torrents).
	PEX bool
	// Encryption is Transmission's name for the MSE/PE policy:
	// "preferred" (serve --encryption prefer: encrypted first, plaintext
	// accepted), "required" (require) or "tolerated" (the nearest to
	// disable, which Transmission lacks).
	Encryption string
}

// Handler serves the RPC. It is safe for concurrent use.
type Handler struct {
	svc         Service
	ids         *idTable
	guard       *httpguard.Guard
	downloadDir string
	peers       int // Config.PeersPerTask
	network     Network
	log         *slog.Logger
	session     string // this run's X-Transmission-Session-Id

	// mu guards the fields below.
	mu sync.Mutex
	// off remembers limits a client set while they were disabled, which
	// Lodestone (where 0 means "no limit") cannot hold: enabling the
	// limit later uses them, as Transmission does. Keyed by the limit's
	// name, and the task's id for a task's.
	off map[string]float64
	// blocklistsOff are the blocklists turned off through
	// blocklist-enabled, restored when it is turned on (blocklist.go).
	blocklistsOff []string
}

// New returns a Handler, loading the id table (a damaged table is rebuilt
// with a warning, never an error). The session id is random, so it
// changes at every start, as Transmission's does.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.IDs == nil || cfg.Guard == nil {
		return nil, errors.New("transmission: Service, IDs and Guard are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids, err := loadIDs(cfg.IDs, cfg.Logger)
	if err != nil {
		return nil, err
	}
	var b [24]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return &Handler{
		svc:         cfg.Service,
		ids:         ids,
		guard:       cfg.Guard,
		downloadDir: cfg.DownloadDir,
		network:     cfg.Network,
		peers:       cfg.PeersPerTask,
		log:         cfg.Logger,
		session:     base64.RawURLEncoding.EncodeToString(b[:]),
		off:         map[string]float64{},
	}, nil
}

// ServeHTTP answers one RPC request: the gates, the handshake, then one
// request of either protocol or a JSON-RPC batch.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Transmission's clients send Basic auth; the guard knows the token
	// as a bearer credential, so the password is handed to it as one.
	// Everything else (Host, Origin, backoff) is the guard's as for any
	// endpoint.
	gr := r
	if _, pass, ok := r.BasicAuth(); ok {
		gr = r.Clone(r.Context())
		gr.Header.Set("Authorization", "Bearer "+pass)
	}
	principal, ref := h.guard.Authenticate(gr)
	if ref != nil {
		if ref.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Transmission"`)
		}
		h.guard.Refuse(w, r, ref)
		return
	}
	if r.URL.Path != Path && r.URL.Path != Path+"/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set(RPCVersionHeader, RPCVersionSemver)
	// Any method gets the handshake first: Sonarr asks for the session
	// id with a GET.
	if r.Header.Get(SessionIDHeader) != h.session {
		w.Header().Set(SessionIDHeader, h.session)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, "<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p>")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "405: Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	// Each method checks the credential's scope (call).
	reply := h.serve(httpguard.WithPrincipal(r.Context(), principal), body)
	if reply == nil {
		// Only JSON-RPC notifications: no reply, as Transmission.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(reply)
}

// serve answers a request body; nil means no reply (notifications).
func (h *Handler) serve(ctx context.Context, body []byte) any {
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) {
		// Which protocol an unparsable body meant is a guess: one that
		// names "jsonrpc" gets JSON-RPC's parse error.
		if bytes.Contains(body, []byte(`"jsonrpc"`)) {
			return rpcErrorReply(nil, &rpcError{codeParseError, "couldn't parse JSON"})
		}
		return legacyReply{Result: "couldn't parse JSON", Arguments: map[string]any{}}
	}
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return h.batch(ctx, trimmed)
	}
	var probe struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
	}
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		// Valid JSON that is not an object: JSON-RPC calls that an
		// invalid request; the legacy protocol had no word for it.
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, "request must be an Array or Object"})
	}
	if probe.JSONRPC == nil {
		return h.legacy(ctx, trimmed)
	}
	reply, ok := h.jsonrpc(ctx, trimmed)
	if !ok {
		return nil
	}
	return reply
}

// legacyRequest is the legacy protocol's request.
type legacyRequest struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

// legacyReply is the legacy protocol's response.
type legacyReply struct {
	Result    string          `json:"result"`
	Arguments any             `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

func (h *Handler) legacy(ctx context.Context, body []byte) legacyReply {
	var req legacyRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return legacyReply{Result: "couldn't parse JSON: " + err.Error(), Arguments: map[string]any{}}
	}
	out, err := h.call(ctx, snake(req.Method), req.Arguments, false)
	if err != nil {
		return legacyReply{Result: err.msg, Arguments: map[string]any{}, Tag: req.Tag}
	}
	if out == nil {
		out = map[string]any{}
	}
	return legacyReply{Result: "success", Arguments: out, Tag: req.Tag}
}

// rpcRequest is a JSON-RPC 2.0 request.
type rpcRequest struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

// rpcReply is a JSON-RPC 2.0 response.
type rpcReply struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcErrorObject `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// rpcErrorObject is JSON-RPC's error object; data holds Transmission's
// error_string.
type rpcErrorObject struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

func rpcErrorReply(id json.RawMessage, e *rpcError) rpcReply {
	if id == nil {
		id = json.RawMessage("null")
	}
	obj := &rpcErrorObject{Code: e.code, Message: codeMessage[e.code]}
	if obj.Message == "" {
		obj.Message = "error"
	}
	if e.msg != "" && e.msg != obj.Message {
		obj.Data = map[string]any{"error_string": e.msg}
	}
	return rpcReply{JSONRPC: "2.0", Error: obj, ID: id}
}

// jsonrpc answers one JSON-RPC request; ok is false for a notification,
// which gets no reply.
func (h *Handler) jsonrpc(ctx context.Context, body []byte) (reply rpcReply, ok bool) {
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, "request must be an Object"}), true
	}
	if string(req.JSONRPC) != `"2.0"` {
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, "JSON-RPC version is not 2.0"}), true
	}
	id := req.ID
	if id != nil && !validID(id) {
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, "id type must be String, Number, or Null"}), true
	}
	var method string
	if err := json.Unmarshal(req.Method, &method); err != nil || method == "" {
		return rpcErrorReply(id, &rpcError{codeInvalidRequest, "method must be a String"}), id != nil
	}
	notification := id == nil
	m, known := methods[method]
	if notification && known && !m.sideEffects {
		// Nothing to say and nothing to do, as Transmission.
		return rpcReply{}, false
	}
	out, err := h.call(ctx, method, req.Params, true)
	if notification {
		return rpcReply{}, false
	}
	if err != nil {
		return rpcErrorReply(id, err), true
	}
	if out == nil {
		out = map[string]any{}
	}
	return rpcReply{JSONRPC: "2.0", Result: toJSONRPC(out), ID: id}, true
}

// validID reports whether a JSON-RPC id is a string, a number or null.
func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// batch answers a JSON-RPC batch: each request in turn, the replies in
// their order, notifications left out; nil when all were notifications.
func (h *Handler) batch(ctx context.Context, body []byte) any {
	var reqs []json.RawMessage
	if err := json.Unmarshal(body, &reqs); err != nil {
		return rpcErrorReply(nil, &rpcError{codeParseError, "couldn't parse JSON"})
	}
	if len(reqs) == 0 {
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, "empty batch"})
	}
	if len(reqs) > maxBatch {
		return rpcErrorReply(nil, &rpcError{codeInvalidRequest, fmt.Sprintf("a batch holds at most %d requests", maxBatch)})
	}
	var out []rpcReply
	for _, raw := range reqs {
		// Every member must be a JSON-RPC 2.0 request: a legacy one
		// (no "jsonrpc") is invalid here, as in Transmission.
		reply, ok := h.jsonrpc(ctx, raw)
		if ok {
			out = append(out, reply)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// call runs one method, recovering a panic into an internal error: a bad
// request never takes the daemon down. Methods unknown, or not in
// JSON-RPC's snake_case when jsonrpc is set, are not found.
func (h *Handler) call(ctx context.Context, method string, raw json.RawMessage, jsonrpc bool) (out map[string]any, rerr *rpcError) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("transmission rpc panicked", "method", method, "panic", fmt.Sprint(p))
			out, rerr = nil, &rpcError{codeInternalError, "internal error"}
		}
	}()
	m, ok := methods[method]
	if !ok {
		return nil, &rpcError{codeMethodNotFound, "method name not recognized"}
	}
	if rerr := permit(ctx, method, m.scope); rerr != nil {
		return nil, rerr
	}
	a, err := parseArgs(raw)
	if err == nil {
		out, err = m.fn(h, ctx, a)
	}
	if err != nil {
		return nil, errorOf(err)
	}
	return out, nil
}

// errorOf gives an error its code and a text like Transmission's.
func errorOf(err error) *rpcError {
	var re *rpcError
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, service.ErrBadTorrent), errors.Is(err, service.ErrBadMagnet):
		return &rpcError{codeCorruptTorrent, "invalid or corrupt torrent file"}
	case errors.Is(err, service.ErrFetch):
		return &rpcError{codeHTTPError, err.Error()}
	case errors.Is(err, service.ErrInvalidParams), errors.Is(err, service.ErrUnsafePath):
		return &rpcError{codeInvalidParams, err.Error()}
	}
	return &rpcError{codeSystemError, err.Error()}
}

// method is one method of the table.
type method struct {
	fn func(h *Handler, ctx context.Context, a args) (map[string]any, error)
	// sideEffects: run even as a JSON-RPC notification.
	sideEffects bool
	// scope is what an API key needs to call it (the token may call all).
	scope api.Scope
}

// methods is the method table, by snake_case name, with the scope each
// needs: reads are read, torrent changes control, the session's settings
// and anything daemon-wide admin. The legacy protocol's
// kebab-case names reach it through snake.
var methods = map[string]method{
	"session_get":          {(*Handler).sessionGet, false, api.ScopeRead},
	"session_set":          {(*Handler).sessionSet, true, api.ScopeAdmin},
	"session_stats":        {(*Handler).sessionStats, false, api.ScopeRead},
	"session_close":        {(*Handler).sessionClose, true, api.ScopeAdmin},
	"free_space":           {(*Handler).freeSpace, false, api.ScopeRead},
	"port_test":            {(*Handler).portTest, false, api.ScopeRead},
	"blocklist_update":     {(*Handler).blocklistUpdate, true, api.ScopeAdmin},
	"torrent_add":          {(*Handler).torrentAdd, true, api.ScopeControl},
	"torrent_get":          {(*Handler).torrentGet, false, api.ScopeRead},
	"torrent_set":          {(*Handler).torrentSet, true, api.ScopeControl},
	"torrent_start":        {(*Handler).torrentStart, true, api.ScopeControl},
	"torrent_start_now":    {(*Handler).torrentStart, true, api.ScopeControl},
	"torrent_stop":         {(*Handler).torrentStop, true, api.ScopeControl},
	"torrent_verify":       {(*Handler).torrentVerify, true, api.ScopeControl},
	"torrent_reannounce":   {(*Handler).torrentReannounce, true, api.ScopeControl},
	"torrent_remove":       {(*Handler).torrentRemove, true, api.ScopeControl},
	"torrent_set_location": {(*Handler).torrentSetLocation, true, api.ScopeControl},
	"torrent_rename_path":  {(*Handler).torrentRenamePath, true, api.ScopeControl},
	"queue_move_top":       {queueMove("top"), true, api.ScopeControl},
	"queue_move_up":        {queueMove("up"), true, api.ScopeControl},
	"queue_move_down":      {queueMove("down"), true, api.ScopeControl},
	"queue_move_bottom":    {queueMove("bottom"), true, api.ScopeControl},
}

// permit refuses a method the request's credential may not call: an API
// key of a narrower scope than need, or a request that carries no
// principal at all. The legacy protocol sends the message as its result
// string ("forbidden: …"), which Transmission's clients report as the
// call's error, as they do every result that is not "success".
func permit(ctx context.Context, method string, need api.Scope) *rpcError {
	p, ok := httpguard.PrincipalFrom(ctx)
	if ok && p.Allows(need) {
		return nil
	}
	msg := "forbidden: " + strings.ReplaceAll(method, "_", "-") + " needs scope " + string(need)
	if ok && !p.Live() {
		msg = "forbidden: key revoked"
	}
	return &rpcError{codeForbidden, msg}
}
