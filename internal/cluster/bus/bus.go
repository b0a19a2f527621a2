package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is the bus's configuration. Every field has a default in Default.
type Config struct {
	// Prefix is the first subject token; stream names are its upper case
	// with "_CMD", "_EVENTS" and "_DEAD" appended. Tests use their own.
	Prefix string
	// Replicas is the streams' replica count: min(3, servers), see Replicas.
	Replicas int
	// DuplicateWindow is how long JetStream remembers message ids, so a
	// resend (of a command or of task.finished) within it is stored once.
	DuplicateWindow time.Duration
	// AckWait is how long a delivered command may stay unacknowledged
	// before JetStream sends it again (a receiver that crashed).
	AckWait time.Duration
	// MaxDeliver is how many times a command is tried before it goes to
	// the dead-letter stream.
	MaxDeliver int
	// RetryDelay is how long a command whose handler failed waits before
	// it is delivered again.
	RetryDelay time.Duration
	// EventMaxAge and EventMaxBytes bound the event stream; the oldest
	// events go first. Replay after a trimmed sequence starts at the
	// oldest kept one.
	EventMaxAge   time.Duration
	EventMaxBytes int64
	// Logger receives the bus's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Default returns the production configuration for a cluster of one server;
// set Replicas with Replicas(servers) for more.
func Default() Config {
	return Config{
		Prefix:          "lodestone",
		Replicas:        1,
		DuplicateWindow: 2 * time.Minute,
		AckWait:         30 * time.Second,
		MaxDeliver:      5,
		RetryDelay:      time.Second,
		EventMaxAge:     7 * 24 * time.Hour,
		EventMaxBytes:   1 << 30,
	}
}

// Replicas is the replica count for a cluster of n servers: min(3, n), at
// least 1. Three replicas survive one server down with a quorum left.
func Replicas(servers int) int {
	return max(1, min(3, servers))
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case validToken(c.Prefix) != nil:
		return fmt.Errorf("bus: prefix: %w", validToken(c.Prefix))
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("bus: replicas %d out of 1..5", c.Replicas)
	case c.DuplicateWindow <= 0 || c.AckWait <= 0 || c.RetryDelay <= 0:
		return errors.New("bus: durations must be positive")
	case c.MaxDeliver < 1:
		return fmt.Errorf("bus: max deliver %d < 1", c.MaxDeliver)
	case c.EventMaxAge <= 0 || c.EventMaxBytes <= 0:
		return errors.New("bus: event stream bounds must be positive")
	}
	return nil
}

// ErrBadName is returned for a node or prefix that cannot be a subject token.
var ErrBadName = errors.New("bus: name is not a subject token")

// validToken refuses what would change a subject's shape: empty names,
// dots (more tokens), wildcards and white space.
func validToken(s string) error {
	if s == "" || strings.ContainsAny(s, ".*> \t\r\n") {
		return fmt.Errorf("%w: %q", ErrBadName, s)
	}
	return nil
}

// Bus is a node's handle on the command and event streams. It does not own
// the NATS connection; the caller closes it after the bus's users stopped.
// A Bus is safe for concurrent use.
type Bus struct {
	cfg Config
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	cmdStream, eventStream, deadStream string
}

// New creates or updates the three streams and returns the bus. It fails if
// JetStream cannot create them (no JetStream, no quorum, bad config).
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Bus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	up := strings.ToUpper(cfg.Prefix)
	b := &Bus{
		cfg: cfg, nc: nc, js: js, log: log.With("component", "bus"),
		cmdStream: up + "_CMD", eventStream: up + "_EVENTS", deadStream: up + "_DEAD",
	}
	streams := []jetstream.StreamConfig{{
		Name:        b.cmdStream,
		Description: "commands for nodes, kept until the node acknowledges them",
		Subjects:    []string{cfg.Prefix + ".cmd.*"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
	}, {
		Name:        b.eventStream,
		Description: "cluster-wide events; the stream sequence is the event id",
		Subjects:    []string{cfg.Prefix + ".events.*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		Duplicates:  cfg.DuplicateWindow,
		MaxAge:      cfg.EventMaxAge,
		MaxBytes:    cfg.EventMaxBytes,
		Discard:     jetstream.DiscardOld,
	}, {
		Name:        b.deadStream,
		Description: "commands that failed MaxDeliver times",
		Subjects:    []string{cfg.Prefix + ".dead.*"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.EventMaxAge,
	}}
	for _, sc := range streams {
		if err := ensureStream(ctx, js, sc); err != nil {
			return nil, fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
	}
	return b, nil
}

// streamAttempt bounds one create-or-update of a stream. Nodes starting
// together create the same replicated stream through different servers
// at once, and then one of them may never hear back (seen with three
// embedded servers: a 5-minute wait); asking again gets an answer.
const streamAttempt = 4 * time.Second

// ensureStream creates sc or updates the stream to it, asking again after
// a timeout until ctx ends.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	for {
		actx, cancel := context.WithTimeout(ctx, streamAttempt)
		_, err := js.CreateOrUpdateStream(actx, sc)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}
