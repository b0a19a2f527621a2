package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lodestone-bt/lodestone/api"
)

// Call sends method and params to node and returns its result.
//
// An *api.Error returned by the remote handler comes back as an *api.Error
// with the same Code and Message. A node that is not serving (no
// responders, at once), that does not answer before ctx ends, or whose
// answer is cut short, gives an *api.Error with CodeNodeUnavailable. If nc
// is not connected, the error is CodeClusterUnavailable. ctx bounds the
// call; without a deadline, DefaultTimeout does. Params that do not fit in
// one NATS message give an error wrapping ErrTooLarge.
func Call(ctx context.Context, nc *nats.Conn, prefix, node, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := validToken(prefix); err != nil {
		return nil, fmt.Errorf("rpc: prefix: %w", err)
	}
	if err := validToken(node); err != nil {
		return nil, fmt.Errorf("rpc: node: %w", err)
	}
	if method == "" {
		return nil, errors.New("rpc: no method")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if !nc.IsConnected() {
		return nil, cutOff(nc)
	}
	if mp := int(nc.MaxPayload()); len(params)+headerRoom > mp {
		return nil, fmt.Errorf("%w: %s for node %s has %d bytes of params; a cluster read must fit in one NATS message (max payload %d bytes)",
			ErrTooLarge, method, node, len(params), mp)
	}
	// A fresh inbox per call: nothing but this request's answer is ever
	// sent to it.
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, connError(nc, node, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The answer may be up to MaxResult in many parts; the default pending
	// limits (64 MiB) are about that, so say it.
	if err := sub.SetPendingLimits(-1, MaxResult+(1<<20)); err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	msg := nats.NewMsg(Subject(prefix, node))
	msg.Reply = inbox
	msg.Header.Set(hdrMethod, method)
	dl, _ := ctx.Deadline()
	msg.Header.Set(hdrTimeout, strconv.FormatInt(max(1, time.Until(dl).Milliseconds()), 10))
	msg.Data = params
	if err := nc.PublishMsg(msg); err != nil {
		return nil, connError(nc, node, err)
	}
	return gather(ctx, nc, sub, node, method)
}

// gather reads the parts of an answer from sub in order and joins them.
func gather(ctx context.Context, nc *nats.Conn, sub *nats.Subscription, node, method string) (json.RawMessage, error) {
	var buf []byte
	next, total := 0, 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			switch {
			case errors.Is(err, nats.ErrNoResponders):
				return nil, unavailable(node, "no responders: it is not running or not connected to NATS")
			case ctx.Err() != nil && next > 0:
				return nil, unavailable(node, fmt.Sprintf("%v after %d of %d parts of the answer to %s", ctx.Err(), next, total, method))
			case ctx.Err() != nil:
				return nil, unavailable(node, fmt.Sprintf("%v waiting for the answer to %s", ctx.Err(), method))
			}
			return nil, connError(nc, node, err)
		}
		i, n, err := parsePart(m.Header.Get(hdrPart))
		if err != nil {
			return nil, fmt.Errorf("rpc: answer from node %s: %w", node, err)
		}
		if m.Header.Get(hdrStatus) == "error" {
			return nil, decodeError(node, m.Data)
		}
		if i != next || (next > 0 && n != total) {
			// One publisher's messages keep their order, so a gap means a
			// part was dropped on the way.
			return nil, unavailable(node, fmt.Sprintf("part %d of %d of the answer to %s came after %d parts: a part was lost", i, n, method, next))
		}
		if i == 0 {
			total = n
			size, err := strconv.Atoi(m.Header.Get(hdrSize))
			if err != nil || size < 0 {
				return nil, fmt.Errorf("rpc: answer from node %s: bad size header %q", node, m.Header.Get(hdrSize))
			}
			if size > MaxResult {
				return nil, fmt.Errorf("%w: the answer to %s from node %s has %d bytes, more than %d", ErrTooLarge, method, node, size, MaxResult)
			}
			buf = make([]byte, 0, size)
		}
		if len(buf)+len(m.Data) > cap(buf) {
			return nil, fmt.Errorf("rpc: answer from node %s is longer than its size header says", node)
		}
		buf = append(buf, m.Data...)
		next++
		if next == total {
			if len(buf) != cap(buf) {
				return nil, fmt.Errorf("rpc: answer from node %s is shorter (%d bytes) than its size header says (%d)", node, len(buf), cap(buf))
			}
			return buf, nil
		}
	}
}

// Reply is one node's answer in CallAll: its result, or the error Call
// returned.
type Reply struct {
	Result json.RawMessage
	Err    error
}

// CallAll calls every node at once and returns each one's reply, keyed by
// node; a node named twice is called once. It returns when every call has
// ended: ctx (or DefaultTimeout, without a deadline) bounds the slowest.
func CallAll(ctx context.Context, nc *nats.Conn, prefix string, nodes []string, method string, params json.RawMessage) map[string]Reply {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	out := make(map[string]Reply, len(nodes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	seen := make(map[string]bool, len(nodes))
	for _, node := range nodes {
		if seen[node] {
			continue
		}
		seen[node] = true
		wg.Go(func() {
			res, err := Call(ctx, nc, prefix, node, method, params)
			mu.Lock()
			out[node] = Reply{Result: res, Err: err}
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// unavailable is the error of a node that did not answer.
func unavailable(node, why string) error {
	return &api.Error{Code: api.CodeNodeUnavailable, Message: fmt.Sprintf("node %s did not answer: %s", node, why)}
}

// cutOff is the error of a call made while this node has no NATS.
func cutOff(nc *nats.Conn) error {
	return &api.Error{Code: api.CodeClusterUnavailable, Message: "this node is not connected to NATS (" + nc.Status().String() + "); another node may answer"}
}

// connError maps an error of nc while asking node.
func connError(nc *nats.Conn, node string, err error) error {
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionReconnecting), !nc.IsConnected():
		return cutOff(nc)
	case errors.Is(err, nats.ErrMaxPayload):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return unavailable(node, err.Error())
}
