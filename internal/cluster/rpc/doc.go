// Package rpc carries reads between cluster nodes (issue 20): a node asks
// the node that owns a task for task.get, task.files, task.list and the like
// over core-NATS request-reply, and gets the answer or an error with its API
// code.
//
// Design decisions:
//   - Core NATS, not JetStream. A read is only useful while its client waits,
//     so it must fail fast when its node is down rather than queue: a request
//     to a node nobody serves comes back at once as "no responders" (the
//     server tells the caller), and one whose node does not answer in time
//     ends with the caller's context. Both are CodeNodeUnavailable (215).
//   - Node N serves on "<prefix>.rpc.<N>" in a queue group, so if the same
//     node id ever runs twice, one of them answers each request, never both.
//   - Every Call subscribes its own fresh inbox and publishes the request
//     with that inbox as its reply subject, so the parts of one answer
//     cannot mix with another's: nothing else is ever sent there. The cost
//     is one subscription (and its interest on the routes) per call.
//   - Answers may be larger than a NATS message (max_payload is 1 MB by
//     default, and a task.list of 3,000 tasks is ~2 MB). The server splits
//     an answer into parts of at most ChunkSize (less if its connection's
//     max payload is smaller), each with a header "i/n"; Call checks that
//     the parts come in order, none missing, and joins them. NATS keeps the
//     order of one publisher's messages to one subscriber, so a part out of
//     order means one was lost (a slow consumer, a broken route) and the
//     call fails instead of returning a corrupt answer.
//   - Requests are not split: reads have small params. A request that does
//     not fit in one message is refused with ErrTooLarge before it is sent.
//   - The caller's remaining time travels with the request, and the
//     handler's context ends with it, so a node does not keep working for a
//     caller that has given up.
//   - An error travels as {code, message}: an *api.Error from the handler
//     (wrapped or not) keeps its code and message, so errors.As on the
//     caller's side sees the same *api.Error. Any other error is
//     CodeInternal; a handler that wants a code returns an *api.Error.
//   - Each request runs in its own goroutine, at most MaxInFlight at once
//     per node; beyond that the subscription waits, and requests queue in
//     the client's pending buffer.
package rpc
