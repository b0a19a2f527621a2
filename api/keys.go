package api

// Scoped API keys (issue 17): credentials that work where the token does,
// each limited to a scope. The daemon's token is always ScopeAdmin.

// Method names of API keys. All three are admin.
const (
	MethodKeyCreate = "key.create"
	MethodKeyList   = "key.list"
	MethodKeyRevoke = "key.revoke"
)

// Scope is what a credential may do. Each scope includes the ones before
// it: read < control < admin.
type Scope string

// Scopes.
const (
	// ScopeRead reads: every get, list, files, pieces, peers, trackers,
	// stats and export call, events.subscribe and events.replay,
	// server.info, /files and /metrics.
	ScopeRead Scope = "read"
	// ScopeControl is read plus changing tasks: add, pause, resume,
	// remove, set, move, recheck, queue moves, reannounce, trackers.
	ScopeControl Scope = "control"
	// ScopeAdmin is everything: session.set, categories, keys, webhooks,
	// watch folders, RSS, and any method not listed in MethodScopes.
	ScopeAdmin Scope = "admin"
)

// Scopes lists the valid scopes, narrowest first.
var Scopes = []Scope{ScopeRead, ScopeControl, ScopeAdmin}

// rank orders the scopes; 0 is not a scope.
func (s Scope) rank() int {
	switch s {
	case ScopeRead:
		return 1
	case ScopeControl:
		return 2
	case ScopeAdmin:
		return 3
	}
	return 0
}

// Valid reports whether s is one of Scopes.
func (s Scope) Valid() bool { return s.rank() > 0 }

// Allows reports whether a credential of scope s may call a method that
// needs scope need. An invalid scope allows nothing.
func (s Scope) Allows(need Scope) bool { return s.rank() > 0 && s.rank() >= need.rank() }

// MethodScopes is the one table of the scope each WebSocket method needs.
// A method not listed needs ScopeAdmin (MethodScope): a method added
// later is closed to narrower keys until it is classified here.
var MethodScopes = map[string]Scope{
	MethodTaskGet:         ScopeRead,
	MethodTaskList:        ScopeRead,
	MethodTaskFiles:       ScopeRead,
	MethodTaskPieces:      ScopeRead,
	MethodTaskPeers:       ScopeRead,
	MethodTaskTrackers:    ScopeRead,
	MethodTaskExport:      ScopeRead,
	MethodSessionGet:      ScopeRead,
	MethodSessionStats:    ScopeRead,
	MethodServerInfo:      ScopeRead,
	MethodCategoryList:    ScopeRead,
	MethodEventsSubscribe: ScopeRead,
	MethodEventsReplay:    ScopeRead,
	MethodClusterStatus:   ScopeRead,

	MethodTaskAdd:            ScopeControl,
	MethodTaskPause:          ScopeControl,
	MethodTaskResume:         ScopeControl,
	MethodTaskRemove:         ScopeControl,
	MethodTaskSet:            ScopeControl,
	MethodTaskMove:           ScopeControl,
	MethodTaskRecheck:        ScopeControl,
	MethodTaskQueueMove:      ScopeControl,
	MethodTaskReannounce:     ScopeControl,
	MethodTaskAddTrackers:    ScopeControl,
	MethodTaskRemoveTrackers: ScopeControl,

	MethodSessionSet:     ScopeAdmin,
	MethodCategorySet:    ScopeAdmin,
	MethodCategoryRemove: ScopeAdmin,
	MethodKeyCreate:      ScopeAdmin,
	MethodKeyList:        ScopeAdmin,
	MethodKeyRevoke:      ScopeAdmin,
	MethodClusterDrain:   ScopeAdmin,

	MethodWatchAdd:    ScopeAdmin,
	MethodWatchList:   ScopeAdmin,
	MethodWatchRemove: ScopeAdmin,

	MethodWebhookAdd:        ScopeAdmin,
	MethodWebhookList:       ScopeAdmin,
	MethodWebhookRemove:     ScopeAdmin,
	MethodWebhookDeliveries: ScopeAdmin,

	// RSS, rss.items and rss.rule.list included: feeds and rules are
	// the daemon's configuration, as the issue says.
	MethodRSSAdd:        ScopeAdmin,
	MethodRSSList:       ScopeAdmin,
	MethodRSSRemove:     ScopeAdmin,
	MethodRSSRefresh:    ScopeAdmin,
	MethodRSSItems:      ScopeAdmin,
	MethodRSSRuleSet:    ScopeAdmin,
	MethodRSSRuleList:   ScopeAdmin,
	MethodRSSRuleRemove: ScopeAdmin,
	MethodRSSPreview:    ScopeAdmin,
}

// MethodScope returns the scope method needs: its entry in MethodScopes,
// else ScopeAdmin.
func MethodScope(method string) Scope {
	if s, ok := MethodScopes[method]; ok {
		return s
	}
	return ScopeAdmin
}

// KeyCreateParams are the params of key.create.
type KeyCreateParams struct {
	// Name is a label for people ("sonarr"); need not be unique.
	Name  string `json:"name"`
	Scope Scope  `json:"scope"`
}

// KeyCreateResult is the result of key.create. Key is the secret: it is
// shown here once and never again (only its SHA-256 is stored).
type KeyCreateResult struct {
	KeyID     string `json:"key_id"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	Scope     Scope  `json:"scope"`
	CreatedAt int64  `json:"created_at"`
}

// Key describes a live key in key.list (never its secret).
type Key struct {
	KeyID     string `json:"key_id"`
	Name      string `json:"name"`
	Scope     Scope  `json:"scope"`
	CreatedAt int64  `json:"created_at"`
	// LastUsedAt is when the key last authenticated a request (0: never).
	// It is kept in memory at once and written to the store at most once
	// a minute, so after a crash it may be up to a minute old.
	LastUsedAt int64 `json:"last_used_at"`
}

// KeyListResult is the result of key.list, oldest key first.
type KeyListResult struct {
	Keys []Key `json:"keys"`
}

// KeyRevokeParams are the params of key.revoke.
type KeyRevokeParams struct {
	KeyID string `json:"key_id"`
}
