package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// Sizes and times of the protocol.
const (
	// ChunkSize is the largest part of an answer in one message. 256 KiB
	// fits every max_payload a NATS server is likely to have (1 MB by
	// default) with room for headers; a server with a smaller one gets
	// parts of its max payload less headerRoom.
	ChunkSize = 256 << 10
	// MaxResult bounds an answer. Call refuses to gather more, and Serve
	// answers a larger result with an error instead of sending it.
	MaxResult = 64 << 20
	// MaxInFlight bounds the requests a node handles at once.
	MaxInFlight = 64
	// DefaultTimeout bounds a Call whose context has no deadline, and a
	// handler whose request says no time.
	DefaultTimeout = 10 * time.Second
	// headerRoom is what a message's headers and subject take at most,
	// left out of the max payload when sizing parts.
	headerRoom = 4 << 10
)

// Headers of requests and answers.
const (
	hdrMethod  = "Lodestone-Rpc-Method"  // request: the API method
	hdrTimeout = "Lodestone-Rpc-Timeout" // request: the caller's remaining time, in ms
	hdrPart    = "Lodestone-Rpc-Part"    // answer: "i/n", parts numbered from 0
	hdrSize    = "Lodestone-Rpc-Size"    // answer, part 0: the whole result's length
	hdrStatus  = "Lodestone-Rpc-Status"  // answer: "ok", or "error" with a wireError body
)

// ErrTooLarge is returned by Call for params that do not fit in one message,
// and for an answer larger than MaxResult.
var ErrTooLarge = errors.New("rpc: too large")

// ErrBadName is returned for a node id or prefix that is not a subject
// token.
var ErrBadName = errors.New("rpc: not a subject token ([A-Za-z0-9_-]+)")

// wireError is an error on the wire: the API code and message.
type wireError struct {
	Code    api.Code `json:"code"`
	Message string   `json:"message"`
}

// encodeError gives err its wire form: an *api.Error keeps its code and
// message; anything else is internal.
func encodeError(err error) []byte {
	w := wireError{Code: api.CodeInternal, Message: "internal error: " + err.Error()}
	var ae *api.Error
	if errors.As(err, &ae) {
		w = wireError{Code: ae.Code, Message: ae.Message}
	}
	b, _ := json.Marshal(w) // a struct of an int and a string
	return b
}

// decodeError turns an error answer back into an *api.Error.
func decodeError(node string, body []byte) error {
	var w wireError
	if err := json.Unmarshal(body, &w); err != nil || w.Code == api.CodeOK {
		return fmt.Errorf("rpc: node %s sent a malformed error %q", node, body)
	}
	return &api.Error{Code: w.Code, Message: w.Message}
}

// parsePart parses a "i/n" header.
func parsePart(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("rpc: bad part header %q", s)
	}
	return i, n, nil
}

// validToken accepts a node id or prefix: one subject token of the
// characters node ids may have.
func validToken(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadName, s)
		}
	}
	return nil
}

// Subject is the subject node serves reads on.
func Subject(prefix, node string) string { return prefix + ".rpc." + node }
