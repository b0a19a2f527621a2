package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// Router answers, in cluster mode, the requests that belong to another
// node: a task placed there, the merged task.list, task.add's placement.
type Router interface {
	// Route answers one request with its result as JSON, or reports
	// routed false to leave it to this daemon. An error is the request's
	// answer (an *api.Error keeps its code).
	Route(ctx context.Context, method string, params json.RawMessage) (result json.RawMessage, routed bool, err error)
}

// connOnly are the methods that act on a client's connection (its event
// feed, its credential): Call refuses them.
var connOnly = map[string]bool{
	api.MethodEventsSubscribe: true,
	api.MethodEventsReplay:    true,
}

// Call runs one method of this daemon, never routed, for a request that
// another node of the cluster accepted from its client (whose credential
// and scope that node checked) and passed on here. It returns the result
// as JSON or an *api.Error with the code a client would have been sent.
func (s *Server) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	h, ok := s.methods[method]
	if !ok || connOnly[method] {
		return nil, &api.Error{Code: api.CodeUnknownMethod, Message: fmt.Sprintf("unknown method %q", method)}
	}
	if len(params) == 0 {
		params = json.RawMessage("{}")
	}
	c := &conn{s: s, log: s.log, principal: httpguard.TokenPrincipal()}
	result, err := h(ctx, c, params)
	if err != nil {
		if errors.Is(err, errDeferred) {
			return nil, &api.Error{Code: api.CodeInternal, Message: "method cannot be passed between nodes"}
		}
		code, msg := errorCode(err)
		if code == api.CodeInternal {
			s.log.Error("routed request failed", "method", method, "err", err)
		}
		return nil, &api.Error{Code: code, Message: msg}
	}
	if raw, ok := result.(encoded); ok {
		return json.RawMessage(raw), nil
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return nil, &api.Error{Code: api.CodeInternal, Message: "encode result: " + err.Error()}
	}
	return raw, nil
}
