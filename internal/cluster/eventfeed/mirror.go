package eventfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/events"
)

// MirrorConfig configures Mirror. Every field but Prefix and Logger is
// required.
type MirrorConfig struct {
	// Hub is the node's mirror hub: events.NewMirror over Source.
	Hub *events.Hub
	// Source, when set, is the hub's Source: Mirror hands it each event
	// before the hub, for replays from memory. nil: replays read the
	// stream.
	Source *Source
	// Bus is the cluster's event stream.
	Bus *bus.Bus
	// Conn carries the ephemeral events on core NATS.
	Conn *nats.Conn
	// Prefix is the first subject token of the ephemeral events, as in
	// ForwardConfig; "" means DefaultPrefix.
	Prefix string
	// Logger receives the mirror's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Mirror feeds the cluster's events into the mirror hub until ctx ends
// (nil) or the hub is closed (events.ErrClosed): the stream's events after
// the hub's last one through one bus subscription, resubscribed after the
// last injected event whenever it ends, and the ephemeral events of every
// node from core NATS, coalesced by name, task and node, while a client of
// the hub wants them.
func Mirror(ctx context.Context, cfg MirrorConfig) error {
	if cfg.Hub == nil || cfg.Bus == nil || cfg.Conn == nil {
		return errors.New("eventfeed: mirror needs a hub, a bus and a connection")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "eventfeed")

	// followLive ends with ctx, cancelled before the wait: Mirror may
	// return (hub closed) while its parent context goes on.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		followLive(ctx, cfg, log)
	}()

	wait := retryMin
	for {
		after, err := cfg.Hub.LastID()
		if err != nil {
			return fmt.Errorf("eventfeed: mirror: %w", err)
		}
		sub, err := cfg.Bus.Subscribe(ctx, after)
		if err == nil {
			wait = retryMin
			err = inject(cfg.Hub, cfg.Source, sub, log)
			sub.Close()
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, events.ErrClosed):
			return fmt.Errorf("eventfeed: mirror: %w", err)
		case err != nil:
			log.Warn("event subscription failed; retrying", "after", after, "err", err)
		default:
			log.Info("event subscription ended; resubscribing", "after", after)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// liveEvery is how often Mirror looks whether the hub's clients want
// ephemeral events: a client that starts wanting them waits up to this
// long for the first.
const liveEvery = time.Second

// followLive subscribes to every node's ephemeral events while a client of
// the hub wants some (Hub.Wanted), and unsubscribes when none does: NATS
// then forwards no node's snapshots to this one, so their fan-out grows
// with the nodes that have watchers, not with all of them. It returns when
// ctx ends.
func followLive(ctx context.Context, cfg MirrorConfig, log *slog.Logger) {
	subject := cfg.Prefix + ".live.*"
	handle := func(m *nats.Msg) {
		node := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		name := m.Header.Get(headerEvent)
		key := name + "/" + taskKey(m.Data) + "/" + node
		if err := cfg.Hub.InjectSnapshot(name, key, node, m.Data); err != nil && !errors.Is(err, events.ErrClosed) {
			log.Debug("live event dropped", "node", node, "name", name, "err", err)
		}
	}
	var sub *nats.Subscription
	defer func() {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}()
	tick := time.NewTicker(liveEvery)
	defer tick.Stop()
	for {
		want := slices.ContainsFunc(api.EphemeralEvents, cfg.Hub.Wanted)
		switch {
		case want && sub == nil:
			s, err := cfg.Conn.Subscribe(subject, handle)
			if err != nil {
				log.Warn("live events not subscribed", "err", err)
				break
			}
			sub = s
		case !want && sub != nil:
			if err := sub.Unsubscribe(); err != nil {
				log.Debug("live events unsubscribe", "err", err)
			}
			sub = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// inject hands the subscription's events to the hub until it ends.
func inject(h *events.Hub, src *Source, sub *bus.Subscription, log *slog.Logger) error {
	for ev := range sub.C() {
		frame, err := events.Frame(ev.Seq, ev.Name, ev.Node, ev.Data)
		if err != nil {
			// Not JSON; the Source skips it too.
			log.Warn("event not JSON", "seq", ev.Seq, "node", ev.Node, "err", err)
			continue
		}
		if src != nil {
			// Before the hub: a replay reads what the hub delivered.
			src.remember(ev.Seq, frame)
		}
		if err := h.Inject(ev.Seq, ev.Name, frame); err != nil {
			return err
		}
	}
	return nil
}
