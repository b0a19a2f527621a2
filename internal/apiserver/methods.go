package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// handler runs one method for connection c with its raw params (never nil:
// "{}" when absent).
type handler func(ctx context.Context, c *conn, params json.RawMessage) (any, error)

// inlineMethods are answered on the connection's reader goroutine rather
// than on one of their own: they only read the service's memory under its
// lock, briefly, and never wait on I/O. A goroutine per request (its
// creation, the growth of its stack through the JSON decoder, the garbage
// collector scanning it) would be a third of task.get's cost; a connection's
// other requests wait for an inline one for microseconds.
var inlineMethods = map[string]bool{
	api.MethodTaskGet:      true,
	api.MethodSessionStats: true,
	api.MethodSessionGet:   true,
	api.MethodServerInfo:   true,
	api.MethodTaskFiles:    true,
	api.MethodTaskPieces:   true,
	api.MethodTaskPeers:    true,
	api.MethodTaskTrackers: true,
	api.MethodCategoryList: true,
}

// methodTable is the one place that maps wire names to handlers.
func (s *Server) methodTable() map[string]handler {
	m := make(map[string]handler)
	register := func(name string, h handler) {
		if _, dup := m[name]; dup {
			panic("apiserver: method registered twice: " + name)
		}
		m[name] = h
	}
	register(api.MethodTaskAdd, method(s.svc.Add))
	register(api.MethodTaskGet, method(func(_ context.Context, p api.TaskGetParams) (encoded, error) {
		t, err := s.svc.Get(p.TaskID)
		if err != nil {
			return nil, err
		}
		return appendTask(make([]byte, 0, 640), &t, allTaskFields), nil
	}))
	register(api.MethodTaskList, method(s.taskList))
	register(api.MethodTaskSet, method(func(_ context.Context, p api.TaskSetParams) (any, error) {
		return s.bulk(p.TaskID, p.Select, func(id string) (any, error) { return s.svc.Set(id, p) })
	}))
	register(api.MethodSessionGet, method(func(context.Context, struct{}) (api.Settings, error) {
		return s.svc.Settings()
	}))
	register(api.MethodSessionSet, method(func(_ context.Context, p api.SessionSetParams) (api.Settings, error) {
		return s.svc.SetSettings(p)
	}))
	register(api.MethodTaskPeers, method(func(_ context.Context, p api.TaskIDParams) (api.TaskPeersResult, error) {
		return s.svc.Peers(p.TaskID)
	}))
	register(api.MethodTaskTrackers, method(func(_ context.Context, p api.TaskIDParams) (api.TaskTrackersResult, error) {
		return s.svc.Trackers(p.TaskID)
	}))
	register(api.MethodTaskAddTrackers, method(func(_ context.Context, p api.TaskTrackersParams) (api.TaskTrackersResult, error) {
		return s.svc.AddTrackers(p.TaskID, p.URLs)
	}))
	register(api.MethodTaskRemoveTrackers, method(func(_ context.Context, p api.TaskTrackersParams) (api.TaskTrackersResult, error) {
		return s.svc.RemoveTrackers(p.TaskID, p.URLs)
	}))
	register(api.MethodTaskExport, method(func(_ context.Context, p api.TaskIDParams) (api.TaskExportResult, error) {
		return s.svc.Export(p.TaskID)
	}))
	register(api.MethodTaskMove, method(func(_ context.Context, p api.TaskMoveParams) (api.Task, error) {
		return s.svc.Move(p.TaskID, p.DownloadDir)
	}))
	register(api.MethodTaskFiles, method(func(_ context.Context, p api.TaskIDParams) (api.TaskFilesResult, error) {
		return s.svc.Files(p.TaskID)
	}))
	register(api.MethodTaskPieces, method(func(_ context.Context, p api.TaskIDParams) (api.TaskPiecesResult, error) {
		return s.svc.Pieces(p.TaskID)
	}))
	register(api.MethodSessionStats, method(func(context.Context, struct{}) (api.SessionStats, error) {
		return s.svc.Stats(), nil
	}))
	register(api.MethodTaskPause, method(func(ctx context.Context, p api.TaskIDParams) (any, error) {
		return s.bulk(p.TaskID, p.Select, func(id string) (any, error) { return api.Empty{}, s.svc.Pause(ctx, id) })
	}))
	register(api.MethodTaskResume, method(func(ctx context.Context, p api.TaskIDParams) (any, error) {
		return s.bulk(p.TaskID, p.Select, func(id string) (any, error) { return api.Empty{}, s.svc.Resume(ctx, id) })
	}))
	register(api.MethodTaskRecheck, method(func(ctx context.Context, p api.TaskIDParams) (any, error) {
		return s.bulk(p.TaskID, p.Select, func(id string) (any, error) { return api.Empty{}, s.svc.Recheck(ctx, id) })
	}))
	register(api.MethodTaskRemove, method(func(ctx context.Context, p api.TaskRemoveParams) (any, error) {
		return s.bulk(p.TaskID, p.Select, func(id string) (any, error) { return api.Empty{}, s.svc.Remove(ctx, id, p.DeleteData) })
	}))
	register(api.MethodTaskQueueMove, method(func(_ context.Context, p api.TaskQueueMoveParams) (api.Task, error) {
		return s.svc.QueueMove(p.TaskID, p.To)
	}))
	register(api.MethodTaskReannounce, method(func(ctx context.Context, p api.TaskIDParams) (api.Empty, error) {
		return api.Empty{}, s.svc.Reannounce(ctx, p.TaskID)
	}))
	register(api.MethodServerInfo, connMethod(func(_ context.Context, c *conn, _ struct{}) (api.ServerInfo, error) {
		info, err := s.svc.Info()
		info.Scope = c.principal.Scope
		info.Cluster = s.cfg.Cluster
		if s.cfg.Cluster != nil && err == nil {
			// The event ids clients see are the cluster's (s.hub is
			// the mirror of the cluster's stream), not this node's.
			last, lerr := s.hub.LastID()
			info.LastEventID, err = strconv.FormatUint(last, 10), lerr
		}
		return info, err
	}))
	register(api.MethodCategoryList, method(func(context.Context, struct{}) (api.CategoryListResult, error) {
		return api.CategoryListResult{Categories: s.svc.Categories()}, nil
	}))
	register(api.MethodCategorySet, method(func(_ context.Context, p api.Category) (api.Category, error) {
		return s.svc.SetCategory(p)
	}))
	register(api.MethodCategoryRemove, method(func(_ context.Context, p api.CategoryRemoveParams) (api.Empty, error) {
		return api.Empty{}, s.svc.RemoveCategory(p.Name)
	}))
	register(api.MethodEventsSubscribe, connMethod(subscribe))
	register(api.MethodEventsReplay, connMethod(replay))
	for name, h := range s.cfg.Methods {
		// The part's handler may ask who calls (httpguard.PrincipalFrom).
		register(name, func(ctx context.Context, c *conn, raw json.RawMessage) (any, error) {
			return h(httpguard.WithPrincipal(ctx, c.principal), raw)
		})
	}
	return m
}

// Handler serves one method added beside the service's through
// Config.Methods (watch folders, RSS, webhooks, keys), with the request's
// raw params ("{}" when absent). An *api.Error it returns is sent with its
// own code and message.
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Method adapts fn to a Handler, decoding params into P as the server's own
// methods do: params that do not decode are refused with 103, and unknown
// fields are ignored.
func Method[P, R any](fn func(context.Context, P) (R, error)) Handler {
	h := method(fn)
	return func(ctx context.Context, raw json.RawMessage) (any, error) { return h(ctx, nil, raw) }
}

// method adapts a typed function to a handler, decoding params into P.
// Unknown fields are ignored, so clients may send fields of later versions.
func method[P, R any](fn func(context.Context, P) (R, error)) handler {
	return connMethod(func(ctx context.Context, _ *conn, p P) (R, error) { return fn(ctx, p) })
}

// connMethod is method for functions that act on the connection itself.
func connMethod[P, R any](fn func(context.Context, *conn, P) (R, error)) handler {
	return func(ctx context.Context, c *conn, raw json.RawMessage) (any, error) {
		var p P
		var taskID *string // params that are only a task_id: the fast path
		switch pp := any(&p).(type) {
		case *api.TaskGetParams:
			taskID = &pp.TaskID
		case *api.TaskIDParams:
			taskID = &pp.TaskID
		}
		if taskID != nil {
			if id, ok := fastTaskID(raw); ok {
				*taskID = id
				return fn(ctx, c, p)
			}
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidParams, describeJSONError(err))
		}
		return fn(ctx, c, p)
	}
}

// describeJSONError words a params decoding error for a user.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Errorf("field %q must be of type %s, not %s", te.Field, jsonType(te.Type.Kind().String()), te.Value)
		}
		return fmt.Errorf("params must be an object, not %s", te.Value)
	}
	return err
}

func jsonType(kind string) string {
	switch kind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int64", "int32", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return kind
}

// decodeRequest parses a frame into a request. On failure it returns an
// error of errParse, errInvalidRequest or errInvalidParams; the request's
// ID is set whenever it could be read.
func decodeRequest(data []byte) (api.Request, error) {
	if req, ok := fastRequest(data); ok {
		return req, nil
	}
	return fullRequest(data)
}

// fullRequest is decodeRequest with encoding/json alone.
func fullRequest(data []byte) (api.Request, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || !json.Valid(data) {
			return api.Request{}, refuse(errParse, "message is not valid JSON")
		}
		return api.Request{}, refuse(errInvalidRequest, "message must be a JSON object {id, method, params}")
	}
	var req api.Request
	rawID, ok := env["id"]
	if !ok {
		return req, refuse(errInvalidRequest, `"id" is required`)
	}
	if err := json.Unmarshal(rawID, &req.ID); err != nil || bytes.Equal(bytes.TrimSpace(rawID), []byte("null")) {
		return req, refuse(errInvalidRequest, `"id" must be a string`)
	}
	rawMethod, ok := env["method"]
	if !ok {
		return req, refuse(errInvalidRequest, `"method" is required`)
	}
	if err := json.Unmarshal(rawMethod, &req.Method); err != nil || req.Method == "" {
		return req, refuse(errInvalidRequest, `"method" must be a non-empty string`)
	}
	req.Params = env["params"]
	switch {
	case len(req.Params) == 0 || bytes.Equal(req.Params, []byte("null")):
		req.Params = json.RawMessage("{}")
	case req.Params[0] != '{':
		return req, refuse(errInvalidParams, `"params" must be an object`)
	}
	return req, nil
}

// encoded is a result already encoded as JSON, written as it is.
type encoded []byte

// resultResponse encodes a success response. The envelope is written by
// hand: it is what encoding/json writes for api.Response, without
// re-validating a large result (a task.list of 10,000 tasks is megabytes).
func resultResponse(id string, result any) []byte {
	raw, ok := result.(encoded)
	if !ok {
		var err error
		if raw, err = json.Marshal(result); err != nil {
			return errorResponse(id, fmt.Errorf("encode result: %w", err))
		}
	}
	b := make([]byte, 0, len(raw)+len(id)+32)
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"error":0,"result":`...)
	b = append(b, raw...)
	return append(b, '}')
}

// errorResponse encodes the answer to request id that failed with err:
// its code and message are errorCode's.
func errorResponse(id string, err error) []byte {
	code, msg := errorCode(err)
	return encodeError(id, code, msg)
}

// encodeError encodes an error response with code and msg.
func encodeError(id string, code api.Code, msg string) []byte {
	b, _ := json.Marshal(api.Response{ID: id, Error: code, Message: msg, Result: json.RawMessage("null")})
	return b
}

// taskList filters tasks and, when fields are given, keeps only those
// (task_id always).
func (s *Server) taskList(_ context.Context, p api.TaskListParams) (encoded, error) {
	if p.State != "" && !validState(p.State) {
		return nil, fmt.Errorf("%w: unknown state %q", errInvalidParams, p.State)
	}
	sel := allTaskFields
	if len(p.Fields) > 0 {
		var err error
		if sel, err = fieldSelection(p.Fields); err != nil {
			return nil, fmt.Errorf("%w: %w", errInvalidParams, err)
		}
	}
	tasks := s.svc.List(service.ListFilter{State: p.State, Label: p.Label})
	return appendTaskList(make([]byte, 0, 16+len(tasks)*taskSizeHint(sel)), tasks, sel), nil
}

// taskSizeHint guesses the encoded size of one task with the fields sel,
// so that a list's buffer is allocated once.
func taskSizeHint(sel []int) int { return 16 + 28*len(sel) }

func validState(s api.TaskState) bool { return slices.Contains(api.TaskStates, s) }
