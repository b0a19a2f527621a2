package apiserver

import (
	"encoding/json"

	"github.com/lodestone-bt/lodestone/api"
)

// A fast path for the frames nearly every client sends: an object with a
// plain "id" and "method" and an object "params", and for params that are
// just a plain "task_id". It accepts only what it can decode exactly as
// encoding/json does (strings without escapes or non-ASCII bytes, no
// other keys, no duplicates) and hands anything else to the full decoder,
// so answers never differ (FuzzFastDecode checks). The two JSON decodes
// of every request (envelope, then params) would be a fifth of task.get's
// cost.

// fastRequest decodes data as decodeRequest would, or reports false.
func fastRequest(data []byte) (api.Request, bool) {
	var req api.Request
	var params []byte
	var seen uint8 // 1 id, 2 method, 4 params
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return req, false
	}
	i++
	for {
		key, j, ok := plainString(data, skipSpace(data, i))
		if !ok {
			return req, false
		}
		i = skipSpace(data, j)
		if i >= len(data) || data[i] != ':' {
			return req, false
		}
		i = skipSpace(data, i+1)
		var bit uint8
		switch key {
		case "id":
			bit = 1
			req.ID, j, ok = plainString(data, i)
		case "method":
			bit = 2
			req.Method, j, ok = plainString(data, i)
			ok = ok && req.Method != ""
		case "params":
			bit = 4
			if j, ok = objectEnd(data, i); ok {
				params = data[i:j]
			}
		default:
			return req, false
		}
		if !ok || seen&bit != 0 {
			return req, false
		}
		seen |= bit
		i = skipSpace(data, j)
		if i >= len(data) {
			return req, false
		}
		if data[i] == ',' {
			i++
			continue
		}
		if data[i] != '}' {
			return req, false
		}
		break
	}
	if skipSpace(data, i+1) != len(data) || seen&3 != 3 {
		return req, false
	}
	if params == nil || string(params) == "null" {
		req.Params = json.RawMessage("{}")
	} else if !json.Valid(params) {
		return req, false
	} else {
		req.Params = params
	}
	return req, true
}

// fastTaskID decodes params of the form {"task_id": "<plain string>"}, or
// reports false.
func fastTaskID(raw []byte) (string, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return "", false
	}
	key, j, ok := plainString(raw, skipSpace(raw, i+1))
	if !ok || key != "task_id" {
		return "", false
	}
	i = skipSpace(raw, j)
	if i >= len(raw) || raw[i] != ':' {
		return "", false
	}
	id, j, ok := plainString(raw, skipSpace(raw, i+1))
	if !ok {
		return "", false
	}
	i = skipSpace(raw, j)
	if i >= len(raw) || raw[i] != '}' || skipSpace(raw, i+1) != len(raw) {
		return "", false
	}
	return id, true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at i made of printable ASCII without
// escapes, returning it and the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", 0, false
		}
	}
	return "", 0, false
}

// objectEnd returns the index after the object (or null) at i, matching
// braces outside strings; the object's content is checked by the caller.
func objectEnd(b []byte, i int) (int, bool) {
	if i+4 <= len(b) && string(b[i:i+4]) == "null" {
		return i + 4, true
	}
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	depth, inString := 0, false
	for j := i; j < len(b); j++ {
		c := b[j]
		switch {
		case inString && c == '\\':
			j++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return j + 1, c == '}'
			}
		}
	}
	return 0, false
}
