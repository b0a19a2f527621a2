package transmission

import (
	"context"

	"github.com/lodestone-bt/lodestone/api"
)

// The per-task facts and controls of the service (queue position,
// reannounce, activity, seeding time, per-task seed limits).

// reannouncer and queueMover are the service's reannounce and queue moves.
type reannouncer interface {
	Reannounce(ctx context.Context, id string) error
}

type queueMover interface {
	QueueMove(id, to string) (api.Task, error)
}

func (h *Handler) reannounce(ctx context.Context, id string) error {
	r, ok := h.svc.(reannouncer)
	if !ok {
		return failed(codeSystemError, "torrent-reannounce is not supported by this service")
	}
	return r.Reannounce(ctx, id)
}

func (h *Handler) queueMove(id, to string) (api.Task, error) {
	q, ok := h.svc.(queueMover)
	if !ok {
		return api.Task{}, failed(codeSystemError, "queue moves are not supported by this service")
	}
	return q.QueueMove(id, to)
}

// activeAt is when t last moved payload, RFC 3339, "" if unknown.
func activeAt(t api.Task) string { return "" }

// queuePosition is t's place in its queue.
func queuePosition(t api.Task) int { return 0 }

func isPrivate(t api.Task) bool { return false }

func secondsDownloading(t api.Task) int64 { return 0 }

func secondsSeeding(t api.Task) int64 { return 0 }

// Transmission's seed limit modes (tr_ratiolimit, tr_idlelimit).
const (
	modeGlobal    = 0 // the session's limit
	modeSingle    = 1 // this torrent's limit
	modeUnlimited = 2 // none
)

func seedRatioMode(t api.Task) int { return modeGlobal }

func seedRatioLimit(t api.Task, set api.Settings) float64 { return set.SeedRatioLimit }

func seedIdleMode(t api.Task) int { return modeGlobal }

// seedIdleLimit is in minutes. The session's is Lodestone's seed time
// limit (see sessionGet).
func seedIdleLimit(t api.Task, set api.Settings) int64 { return minutes(set.SeedTimeLimit) }

// seedArgs are torrent-set's seed limit arguments.
type seedArgs struct {
	ratio                     float64
	hasRatio                  bool
	ratioMode, idleMode       int64
	hasRatioMode, hasIdleMode bool
	idle                      int64 // minutes
	hasIdle                   bool
}

func parseSeedLimits(a args) (seedArgs, error) {
	var s seedArgs
	var err error
	if s.ratio, s.hasRatio, err = a.number("seed_ratio_limit"); err != nil {
		return s, err
	}
	if s.hasRatio && s.ratio < 0 {
		return s, invalid("seed_ratio_limit", "a ratio from 0")
	}
	if s.idle, s.hasIdle, err = a.integer("seed_idle_limit"); err != nil {
		return s, err
	}
	if s.hasIdle && (s.idle < 0 || s.idle > 1<<31) {
		return s, invalid("seed_idle_limit", "minutes from 0")
	}
	for _, m := range []struct {
		key string
		v   *int64
		has *bool
	}{{"seed_ratio_mode", &s.ratioMode, &s.hasRatioMode}, {"seed_idle_mode", &s.idleMode, &s.hasIdleMode}} {
		if *m.v, *m.has, err = a.integer(m.key); err != nil {
			return s, err
		}
		if *m.has && (*m.v < modeGlobal || *m.v > modeUnlimited) {
			return s, invalid(m.key, "0 (the session's), 1 (this torrent's) or 2 (unlimited)")
		}
	}
	return s, nil
}

// apply sets the task's seed limits in p; it reports whether it set any.
func (s seedArgs) apply(p *api.TaskSetParams, t api.Task) bool { return false }

// queueTo moves t to position pos of its queue.
func (h *Handler) queueTo(t api.Task, pos int) error {
	return failed(codeSystemError, "queue positions are not supported by this service")
}
