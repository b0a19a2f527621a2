// Package eventfeed carries a cluster node's events to every node (issue
// 20): Forward copies the node's local event hub into the cluster's event
// stream, and Mirror feeds the stream back into the node's mirror hub
// (events.NewMirror over a Source), which the API server serves clients
// from, so that event ids on the wire are the stream's sequence numbers
// and events.replay works against the whole cluster.
//
// # Forwarding
//
// The local hub (internal/events, numbered and logged in the node's store)
// stays the source of truth for what happened on the node. Forward
// subscribes to it and replays it from a cursor, the local number of the
// last event the stream acknowledged, kept in the store under CursorKey.
// Each logged event is published to the bus with the message id
// "ev:<node>:<local seq>" (task.finished: bus.FinishedID(task,
// generation)), and the cursor moves on only once JetStream acknowledged
// it. The cursor is written at most every 100 ms or 100 events; after a
// crash the events since the last write are published again with the same
// ids, and JetStream stores them once if they come back within its
// duplicate window (2 minutes). Publishing retries with backoff for as long
// as NATS is away, in order, and drops nothing; the local hub never waits
// for it: a forwarder that falls behind is cut off by the hub
// (events.ErrLagging) and resumes from its cursor through a replay, which
// reads the local log. Only the local log's 10,000 events bound an outage:
// older unforwarded events are lost, and the forwarder logs an error.
//
// Events of tasks the node no longer owns (ForwardConfig.Keep) are not
// forwarded: a node returning after failover must not speak for tasks
// placed elsewhere.
//
// Ephemeral events (api.EphemeralEvents: task.progress, session.stats)
// are snapshots superseded by the next one. They go over core NATS on
// "<prefix>.live.<node>", best effort, never into the stream.
//
// # Mirroring
//
// Mirror runs ONE bus subscription per node, from the mirror hub's last
// event on, and injects each event into the hub; older events are read by
// the hub's Source (NewSource, over bus.Replay, with the last 10,000
// injected events in memory) when a client replays. While a client of the
// hub wants ephemeral events, it also subscribes to "<prefix>.live.*" and
// hands each snapshot to the hub coalesced by name, task and node.
//
// # Wiring
//
// In a cluster node the service keeps publishing to the local hub, and the
// API server is given the mirror:
//
//	src := eventfeed.NewSource(b, log)
//	mirror, err := events.NewMirror(src, events.Options{Ephemeral: api.EphemeralEvents})
//	fwd, err := eventfeed.NewForwarder(eventfeed.ForwardConfig{
//		Node: id, Hub: localHub, Cursor: st, Bus: b, Conn: nc, Keep: keep,
//	}) // before the service publishes
//	go fwd.Run(ctx)
//	go eventfeed.Mirror(ctx, eventfeed.MirrorConfig{Hub: mirror, Source: src, Bus: b, Conn: nc})
//	srv, err := apiserver.New(cfg, svc, mirror)
//
// To stop: cancel ctx and wait for Run and Mirror (Run writes the cursor),
// then close the mirror, the local hub and the store.
package eventfeed
