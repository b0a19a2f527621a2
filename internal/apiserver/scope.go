package apiserver

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// permit checks a request on a connection an API key opened, before it is
// dispatched, and answers it itself when it is refused (false):
//   - the key was revoked: 403 "key revoked", then the connection is
//     closed (1008 "key revoked"), the answer written first so that the
//     client learns why;
//   - the method needs a wider scope than the key's (api.MethodScope):
//     403 naming the method and the scope it needs; the connection goes
//     on.
//
// An unknown method passes, to be answered 102 as for anyone. The lookup
// is in memory (the revocation is a closed channel), and connections the
// token opened never come here. Events stop at the revocation itself,
// before any request: the writer drops every event it would write to a
// revoked key (writeLoop).
func (c *conn) permit(ctx context.Context, req api.Request) bool {
	p := c.principal
	_, known := c.s.methods[req.Method]
	label := req.Method
	if !known {
		label = MethodUnknown
	}
	if !p.Live() {
		c.s.observe(label, api.CodeForbidden, 0)
		c.writeNow(ctx, encodeError(req.ID, api.CodeForbidden, "key revoked"))
		c.cancel(reasonRevoked)
		return false
	}
	c.s.guard.Touch(p)
	if !known {
		return true
	}
	if need := api.MethodScope(req.Method); !p.Scope.Allows(need) {
		ref := httpguard.Forbidden(p, req.Method, need)
		c.s.observe(label, ref.Code, 0)
		c.writeNow(ctx, encodeError(req.ID, ref.Code, ref.Message))
		return false
	}
	return true
}
