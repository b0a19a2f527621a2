// Package bus is the cluster's message bus on NATS JetStream: the durable
// command path from any node to the node that owns a task, and the one
// cluster-wide event stream (issue 20).
//
// # Commands
//
// A command for node N is published to the subject "<prefix>.cmd.N" of the
// stream "<PREFIX>_CMD". The stream has work-queue retention: a command
// stays stored, replicated on Config.Replicas servers, until N's durable
// consumer acknowledges it, however long N is away, and is removed then.
// Send returns only after JetStream answered the publish with a PubAck, so a
// nil error from Send means the command is durable; that is the moment the
// API may answer its client. Each command carries its ID as Nats-Msg-Id, so a
// resend with the same ID inside the stream's duplicate window is stored
// once (the PubAck says Duplicate and points at the first copy).
//
// Receive runs N's durable consumer. A command is acknowledged after its
// handler returned nil; an error naks it with a delay and it comes again; a
// crash leaves it unacknowledged and JetStream redelivers it after AckWait.
// Delivery is therefore at least once: handlers must be idempotent by
// command ID. After MaxDeliver failed attempts the command is copied to the
// dead-letter stream "<PREFIX>_DEAD" (with the last error) and terminated, and
// the receiver logs an error; nothing is dropped silently.
//
// The result of a command goes back on core NATS: Send subscribes a fresh
// inbox before it publishes and stores the inbox in the command's header;
// the receiver publishes the handler's result there before it acks. The
// command is the durable part; the reply is for a sender that is still
// waiting (an API request). If the sender is gone, the reply is dropped
// and nothing is lost: the command was carried out. This avoids a results
// stream that would have to be trimmed and would add a second stored write
// to every command.
//
// # Events
//
// Every node publishes its events to "<prefix>.events.<node>" in the one
// stream "<PREFIX>_EVENTS" (limits retention, bounded by age and bytes). The
// stream sequence of an event is its cluster-wide id. Replay asks the
// stream for its last sequence and reads up to it through an ordered
// consumer, which delivers in sequence order and resets itself on any gap,
// so from any node's connection it returns events in sequence order with no
// gap and no duplicate, even if the replica serving it lags. Subscribe is
// the same ordered consumer left running.
//
// task.finished is sent exactly once with a deterministic message id
// (FinishedID: "finished:<task>:<generation>"): a node that crashes after
// publishing and publishes again on restart, within the duplicate window,
// gets the first event's sequence back and nothing new is stored.
package bus
