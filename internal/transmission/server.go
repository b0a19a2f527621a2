// Package transmission serves Transmission's RPC (the legacy protocol:
// {"method","arguments","tag"} → {"result","arguments","tag"}) at POST
// /transmission/rpc, so tools written for Transmission (Sonarr, Radarr,
// transmission-remote, …) drive Lodestone unchanged. It is a translation
// layer over the service's public methods and keeps no task state of its
// own, except the integer ids Transmission's clients use (idTable).
//
// Requests pass the daemon's httpguard.Guard first (Host, Origin,
// backoff), with HTTP Basic auth whose password is the API token; then
// the X-Transmission-Session-Id handshake, which Transmission uses
// against cross-site request forgery.
package transmission

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Path is where the RPC is served.
const Path = "/transmission/rpc"

// Header names of the handshake.
const (
	SessionIDHeader  = "X-Transmission-Session-Id"
	RPCVersionHeader = "X-Transmission-Rpc-Version"
)

// RPCVersion is the rpc-version reported: Transmission 4.0's, whose
// legacy protocol is the one served.
const (
	RPCVersion        = 17
	RPCVersionMinimum = 14
	// Version is the version string session-get reports. Clients parse
	// it as Transmission's (Sonarr refuses one below 2.40); the
	// parenthesis tells a human what answers.
	Version = "4.0.6 (lodestone)"
)

// maxBody caps a request body: a base64 .torrent of the engine's largest
// accepted size fits with room to spare.
const maxBody = 64 << 20

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
	Settings() (api.Settings, error)
}

// Config configures a Handler.
type Config struct {
	Service  Service
	Settings Settings // where the id table is stored
	Guard    *httpguard.Guard
	Logger   *slog.Logger
}

// Handler serves the RPC. It is safe for concurrent use.
type Handler struct {
	svc     Service
	ids     *idTable
	guard   *httpguard.Guard
	log     *slog.Logger
	session string // this run's X-Transmission-Session-Id
}

// New returns a Handler, loading the id table. The session id is random,
// so it changes at every start, as Transmission's does.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Settings == nil || cfg.Guard == nil {
		return nil, errors.New("transmission: Service, Settings and Guard are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ids, err := loadIDs(cfg.Settings)
	if err != nil {
		return nil, err
	}
	var b [24]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return &Handler{
		svc:     cfg.Service,
		ids:     ids,
		guard:   cfg.Guard,
		log:     cfg.Logger,
		session: base64.RawURLEncoding.EncodeToString(b[:]),
	}, nil
}

// request is the legacy protocol's request.
type request struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

// response is the legacy protocol's response.
type response struct {
	Result    string          `json:"result"`
	Arguments any             `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

// ServeHTTP answers one RPC request.
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
	if ref := h.guard.Check(gr); ref != nil {
		if ref.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Transmission"`)
		}
		h.guard.Refuse(w, r, ref)
		return
	}
	w.Header().Set(RPCVersionHeader, fmt.Sprint(RPCVersion))
	if r.Header.Get(SessionIDHeader) != h.session {
		w.Header().Set(SessionIDHeader, h.session)
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, "<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p>")
		return
	}
	var req request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&req); err != nil {
		// Transmission answers an unparsable body with a result, not an
		// HTTP error.
		writeJSON(w, response{Result: "couldn't parse JSON: " + err.Error(), Arguments: struct{}{}})
		return
	}
	args, result := h.call(r.Context(), req)
	if args == nil {
		args = struct{}{}
	}
	writeJSON(w, response{Result: result, Arguments: args, Tag: req.Tag})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

// call runs one method, recovering a panic into an error result: a bad
// request never takes the daemon down.
func (h *Handler) call(ctx context.Context, req request) (args any, result string) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("transmission rpc panicked", "method", req.Method, "panic", fmt.Sprint(p))
			args, result = nil, "internal error"
		}
	}()
	m, ok := methods[req.Method]
	if !ok {
		return nil, "method name not recognized"
	}
	raw := req.Arguments
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	args, err := m(h, ctx, raw)
	if err != nil {
		return nil, errorResult(err)
	}
	return args, "success"
}

// errorResult turns an error into a result string like Transmission's.
func errorResult(err error) string {
	var ae *argError
	switch {
	case errors.As(err, &ae):
		return ae.msg
	case errors.Is(err, service.ErrBadTorrent):
		return "invalid or corrupt torrent file"
	case errors.Is(err, service.ErrBadMagnet):
		return "invalid or corrupt torrent file"
	}
	return err.Error()
}

// argError is a bad argument, answered with its message alone.
type argError struct{ msg string }

func (e *argError) Error() string { return e.msg }

func badArgs(format string, a ...any) error { return &argError{fmt.Sprintf(format, a...)} }

// methodFunc runs a method on its raw arguments.
type methodFunc func(h *Handler, ctx context.Context, args json.RawMessage) (any, error)

// methods is the method table.
var methods = map[string]methodFunc{
	"session-get":       (*Handler).sessionGet,
	"torrent-add":       (*Handler).torrentAdd,
	"torrent-get":       (*Handler).torrentGet,
	"torrent-start":     (*Handler).torrentStart,
	"torrent-start-now": (*Handler).torrentStart,
	"torrent-stop":      (*Handler).torrentStop,
	"torrent-verify":    (*Handler).torrentVerify,
	"torrent-remove":    (*Handler).torrentRemove,
}
