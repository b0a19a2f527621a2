package httpguard

import (
	"context"
	"net/http"

	"github.com/lodestone-bt/lodestone/api"
)

// TokenID is the Principal.ID of a request authenticated by the daemon's
// token (or a session the token opened).
const TokenID = "token"

// Principal is who an admitted request authenticated as: the daemon's
// token (always admin) or a scoped API key.
type Principal struct {
	// ID is TokenID, or the API key's key_id.
	ID    string
	Scope api.Scope
	// revoked is closed when the key is revoked; nil for the token.
	revoked <-chan struct{}
}

// tokenPrincipal is the token's Principal.
var tokenPrincipal = Principal{ID: TokenID, Scope: api.ScopeAdmin}

// IsToken reports whether p is the daemon's token.
func (p Principal) IsToken() bool { return p.ID == TokenID }

// Live reports whether p may still act: always for the token, until its
// revocation for a key. The zero Principal is not live.
func (p Principal) Live() bool {
	if p.IsToken() {
		return true
	}
	if p.revoked == nil {
		return false
	}
	select {
	case <-p.revoked:
		return false
	default:
		return true
	}
}

// Revoked returns a channel closed when p's key is revoked; nil (never
// ready) for the token.
func (p Principal) Revoked() <-chan struct{} { return p.revoked }

// Allows reports whether p is live and its scope covers need.
func (p Principal) Allows(need api.Scope) bool { return p.Scope.Allows(need) && p.Live() }

// Keys is what the guard needs of the API keys (internal/apikeys).
type Keys interface {
	// Authenticate reports whether secret is a live key: its id, scope
	// and a channel closed at its revocation. It records the use.
	Authenticate(secret string) (id string, scope api.Scope, revoked <-chan struct{}, ok bool)
	// Lookup returns live key id's scope and revocation channel, and
	// records the use.
	Lookup(id string) (scope api.Scope, revoked <-chan struct{}, ok bool)
	// Touch records a use of key id.
	Touch(id string)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal an admitted request carries in its
// context (Authorize puts it there), and whether there is one.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Touch records a use of p's key (a request on a connection or session it
// opened); nothing for the token.
func (g *Guard) Touch(p Principal) {
	if !p.IsToken() && g.keys != nil {
		g.keys.Touch(p.ID)
	}
}

// Forbidden is the refusal of a method or endpoint that p's scope does not
// cover, or of any request once p's key is revoked.
func Forbidden(p Principal, what string, need api.Scope) *Refusal {
	if !p.Live() {
		return &Refusal{Status: http.StatusForbidden, Code: api.CodeForbidden, Message: "key revoked"}
	}
	return &Refusal{Status: http.StatusForbidden, Code: api.CodeForbidden,
		Message: what + " needs scope " + string(need) + ", this credential has scope " + string(p.Scope)}
}

// AuthorizeScope is Authorize for an endpoint that needs scope need: a
// live credential of a narrower scope is refused with 403.
func (g *Guard) AuthorizeScope(need api.Scope, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ref := g.Authenticate(r)
		if ref == nil && !p.Allows(need) {
			ref = Forbidden(p, r.URL.Path, need)
		}
		if ref != nil {
			g.Refuse(w, r, ref)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// TokenPrincipal is the daemon token's Principal: admin scope, never
// revoked. The cluster runs requests another node admitted as it.
func TokenPrincipal() Principal { return tokenPrincipal }
