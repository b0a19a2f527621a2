package transmission

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// Names. Transmission's legacy protocol spells its names in kebab-case
// ("download-dir", "delete-local-data") or camelCase ("hashString",
// "seedRatioLimit"), depending on the name; Transmission 4.1 spells every
// one in snake_case and still reads the old spellings. Here every name a
// client sends (method, argument key, torrent-get field) is turned into
// snake_case at the edge, so the methods know one spelling; replies use
// Transmission 4.0's spellings in the legacy protocol and snake_case in
// JSON-RPC 2.0 (toJSONRPC).

// snake turns a name in any of Transmission's spellings into snake_case:
// "downloadDir", "download-dir" and "download_dir" are all
// "download_dir"; a run of capitals is one word ("isUTP" is "is_utp").
func snake(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 4)
	prev := rune(0)
	for _, r := range name {
		switch {
		case r == '-':
			b.WriteByte('_')
		case unicode.IsUpper(r):
			if unicode.IsLower(prev) || unicode.IsDigit(prev) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// keyRow is a row of names in a reply (torrent-get's table format): its
// strings are names, turned into snake_case with the keys in JSON-RPC.
type keyRow []string

// toJSONRPC returns v with every object key (and every keyRow name) in
// snake_case, for a JSON-RPC 2.0 reply. Values that are not objects,
// arrays or keyRows are returned as they are.
func toJSONRPC(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[snake(k)] = toJSONRPC(x)
		}
		return out
	case []map[string]any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSONRPC(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = toJSONRPC(x)
		}
		return out
	case keyRow:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = snake(x)
		}
		return out
	}
	return v
}

// args are a request's arguments, keyed by their snake_case names. A key
// given null counts as absent.
type args map[string]json.RawMessage

// parseArgs reads the arguments object of a request (absent or null: no
// arguments), turning its keys into snake_case.
func parseArgs(raw json.RawMessage) (args, error) {
	a := args{}
	if len(raw) == 0 || string(raw) == "null" {
		return a, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, badArgs("invalid arguments: want an object")
	}
	for k, v := range m {
		if string(v) == "null" {
			continue
		}
		a[snake(k)] = v
	}
	return a, nil
}

func (a args) has(k string) bool { _, ok := a[k]; return ok }

// invalid is the error of an argument of the wrong type or value.
func invalid(k, want string) error {
	return badArgs("invalid argument %q: want %s", k, want)
}

// str returns a string argument.
func (a args) str(k string) (v string, ok bool, err error) {
	raw, ok := a[k]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false, invalid(k, "a string")
	}
	return v, true, nil
}

// boolean returns a boolean argument; 0 and 1 are accepted too, as
// Transmission reads them.
func (a args) boolean(k string) (v bool, ok bool, err error) {
	raw, ok := a[k]
	if !ok {
		return false, false, nil
	}
	switch string(raw) {
	case "true", "1":
		return true, true, nil
	case "false", "0":
		return false, true, nil
	}
	return false, false, invalid(k, "a boolean")
}

// number returns a numeric argument.
func (a args) number(k string) (v float64, ok bool, err error) {
	raw, ok := a[k]
	if !ok {
		return 0, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, invalid(k, "a number")
	}
	return v, true, nil
}

// integer returns a whole-number argument within ±2^53.
func (a args) integer(k string) (v int64, ok bool, err error) {
	f, ok, err := a.number(k)
	if err != nil || !ok {
		return 0, ok, err
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, invalid(k, "a whole number")
	}
	return int64(f), true, nil
}

// ints returns an array of whole numbers.
func (a args) ints(k string) (v []int, ok bool, err error) {
	raw, ok := a[k]
	if !ok {
		return nil, false, nil
	}
	var fs []float64
	if err := json.Unmarshal(raw, &fs); err != nil {
		return nil, false, invalid(k, "an array of numbers")
	}
	v = make([]int, len(fs))
	for i, f := range fs {
		if f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			return nil, false, invalid(k, "an array of whole numbers")
		}
		v[i] = int(f)
	}
	return v, true, nil
}

// strs returns an array of strings.
func (a args) strs(k string) (v []string, ok bool, err error) {
	raw, ok := a[k]
	if !ok {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, invalid(k, "an array of strings")
	}
	if v == nil {
		v = []string{}
	}
	return v, true, nil
}

// rpcError is an error answered with a code (JSON-RPC 2.0) and a text (the
// legacy protocol's result, JSON-RPC's error_string).
type rpcError struct {
	code int
	msg  string
}

func (e *rpcError) Error() string { return e.msg }

// Transmission 4.1's error codes: JSON-RPC 2.0's own, then
// libtransmission's (JsonRpc::Error::Code).
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternalError  = -32603
	// codeForbidden: a method the credential's scope does not cover.
	// Transmission has none (its daemon knows one credential): it is
	// taken from JSON-RPC's range for server errors.
	codeForbidden = -32000

	codeSetAnnounceList  = 1
	codeInvalidTracker   = 2
	codePathNotAbsolute  = 3
	codeUnrecognizedInfo = 4
	codeSystemError      = 5
	codeFileIndexOOR     = 6
	codePieceIndexOOR    = 7
	codeHTTPError        = 8
	codeCorruptTorrent   = 9
	codeInvalidBlocklist = 10
)

// codeMessage is the JSON-RPC error message of each code, as Transmission
// 4.1 words it.
var codeMessage = map[int]string{
	codeParseError:       "Parse error",
	codeInvalidRequest:   "Invalid Request",
	codeMethodNotFound:   "Method not found",
	codeInvalidParams:    "Invalid params",
	codeInternalError:    "Internal error",
	codeForbidden:        "forbidden",
	codeSetAnnounceList:  "error setting announce list",
	codeInvalidTracker:   "Invalid tracker list",
	codePathNotAbsolute:  "path is not absolute",
	codeUnrecognizedInfo: "unrecognized info",
	codeSystemError:      "system error",
	codeFileIndexOOR:     "file index out of range",
	codePieceIndexOOR:    "piece index out of range",
	codeHTTPError:        "HTTP error from backend service",
	codeCorruptTorrent:   "invalid or corrupt torrent file",
	codeInvalidBlocklist: "couldn't parse any valid blocklist rules",
}

// badArgs is a bad argument: JSON-RPC's invalid params.
func badArgs(format string, a ...any) error {
	return &rpcError{codeInvalidParams, fmt.Sprintf(format, a...)}
}

// failed is an error of the given code.
func failed(code int, format string, a ...any) error {
	return &rpcError{code, fmt.Sprintf(format, a...)}
}
