package api

// Code is a response error code. The numbers are stable: they never change
// meaning once released. 0 means success.
type Code int

// Error codes. 1xx: the message itself; 2xx: the task or its content;
// 4xx: access; 5xx: the daemon.
const (
	CodeOK                 Code = 0
	CodeParseError         Code = 100 // the frame is not valid JSON
	CodeInvalidRequest     Code = 101 // valid JSON but not a request envelope
	CodeUnknownMethod      Code = 102 // no such method
	CodeInvalidParams      Code = 103 // params missing, of the wrong type, or out of range
	CodeBadTorrent         Code = 200 // torrent data is not valid base64 or not a valid .torrent
	CodeBadMagnet          Code = 201 // not a valid magnet URI
	CodeTaskNotFound       Code = 202 // no task with that task_id
	CodeTaskState          Code = 203 // the task's state does not allow the operation
	CodeFetchFailed        Code = 204 // a task.add URL could not be fetched (or leads to an internal address)
	CodeNoSpace            Code = 205 // the task's data does not fit in the free space of its download dir
	CodeUnsupported        Code = 206 // a valid torrent or magnet Lodestone cannot download (BEP 52 v2-only)
	CodePathConflict       Code = 207 // a file of the task would be at a path another task holds
	CodeNoSuchCategory     Code = 208 // task.add, task.set or category.remove names a category that does not exist
	CodeNoSuchWatch        Code = 209 // watch.remove names a folder that is not watched
	CodeNoSuchFeed         Code = 210 // an rss method names a feed_id that does not exist
	CodeNoSuchRule         Code = 211 // an rss method names a rule that does not exist
	CodeNoSuchWebhook      Code = 212 // a webhook method names a webhook_id that does not exist
	CodeNoSuchKey          Code = 213 // key.revoke names a key_id that does not exist
	CodeNoNode             Code = 214 // cluster: no live node can take the task (all draining, full or out of disk), or task.add's node is not live
	CodeNodeUnavailable    Code = 215 // cluster: the task's node did not answer a read in time (it may be down); commands are queued instead
	CodeClusterUnavailable Code = 216 // cluster: this node has lost NATS (or JetStream did not take the write, e.g. during a leader election): nothing was stored; try again, or another node
	CodeNotClustered       Code = 217 // a cluster method on a daemon that is not in a cluster
	CodeUnauthorized       Code = 401 // missing or wrong token
	CodeForbidden          Code = 403 // the credential is valid but its scope does not allow the method, or the key was revoked
	CodeRateLimited        Code = 429 // too many wrong tokens from this address: wait for Retry-After
	CodeInternal           Code = 500 // a bug or an unexpected failure; see the daemon's log
	CodeUnavailable        Code = 503 // the daemon is shutting down, or has too many connections
)

// String returns the code's stable short name, as used in docs and logs.
func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeParseError:
		return "parse_error"
	case CodeInvalidRequest:
		return "invalid_request"
	case CodeUnknownMethod:
		return "unknown_method"
	case CodeInvalidParams:
		return "invalid_params"
	case CodeBadTorrent:
		return "bad_torrent"
	case CodeBadMagnet:
		return "bad_magnet"
	case CodeTaskNotFound:
		return "task_not_found"
	case CodeTaskState:
		return "task_state"
	case CodeFetchFailed:
		return "fetch_failed"
	case CodeNoSpace:
		return "no_space"
	case CodeUnsupported:
		return "unsupported_torrent"
	case CodePathConflict:
		return "path_conflict"
	case CodeNoSuchCategory:
		return "no_such_category"
	case CodeNoSuchWatch:
		return "no_such_watch"
	case CodeNoSuchFeed:
		return "no_such_feed"
	case CodeNoSuchRule:
		return "no_such_rule"
	case CodeNoSuchWebhook:
		return "no_such_webhook"
	case CodeNoSuchKey:
		return "no_such_key"
	case CodeNoNode:
		return "no_node"
	case CodeNodeUnavailable:
		return "node_unavailable"
	case CodeClusterUnavailable:
		return "cluster_unavailable"
	case CodeNotClustered:
		return "not_clustered"
	case CodeUnauthorized:
		return "unauthorized"
	case CodeForbidden:
		return "forbidden"
	case CodeRateLimited:
		return "rate_limited"
	case CodeInternal:
		return "internal"
	case CodeUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Error is a failed response as a Go error, as returned by the client package.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }
