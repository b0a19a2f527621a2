package transmission

import (
	"context"
	"errors"
	"math"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// The per-task facts and controls of the service (queue position,
// reannounce, activity, seeding time, per-task seed limits) in
// Transmission's terms.

// reannounce asks for an announce now. A task that cannot announce
// (paused, finished, busy: the service's ErrTaskState) is skipped, as
// Transmission skips a torrent that is not running, and torrent-reannounce
// still answers success.
func (h *Handler) reannounce(ctx context.Context, id string) error {
	if err := h.svc.Reannounce(ctx, id); err != nil && !errors.Is(err, service.ErrTaskState) {
		return err
	}
	return nil
}

func (h *Handler) queueMove(id, to string) (api.Task, error) {
	return h.svc.QueueMove(id, to)
}

// activeAt is when t last moved payload, RFC 3339, "" if never.
func activeAt(t api.Task) string { return t.ActiveAt }

// queuePosition is t's place in the queue order, 0 first.
func queuePosition(t api.Task) int { return t.QueuePosition }

func isPrivate(t api.Task) bool { return t.Private }

func secondsDownloading(t api.Task) int64 { return t.SecondsDownloading }

func secondsSeeding(t api.Task) int64 { return t.SecondsSeeding }

// Transmission's seed limit modes (tr_ratiolimit, tr_idlelimit).
const (
	modeGlobal    = 0 // the session's limit
	modeSingle    = 1 // this torrent's limit
	modeUnlimited = 2 // none
)

// modeOf is the Transmission mode of a Lodestone per-task limit.
func modeOf(limit float64) int {
	switch {
	case limit == api.SeedLimitSession:
		return modeGlobal
	case limit < 0:
		return modeUnlimited
	}
	return modeSingle
}

func seedRatioMode(t api.Task) int { return modeOf(t.SeedRatioLimit) }

// seedRatioLimit is the ratio in force under the task's mode: its own,
// else the session's.
func seedRatioLimit(t api.Task, set api.Settings) float64 {
	if t.SeedRatioLimit >= 0 {
		return t.SeedRatioLimit
	}
	return set.SeedRatioLimit
}

func seedIdleMode(t api.Task) int { return modeOf(float64(t.SeedIdleLimit)) }

// seedIdleLimit is in minutes: the task's own, else the session's.
func seedIdleLimit(t api.Task, set api.Settings) int64 {
	if t.SeedIdleLimit >= 0 {
		return minutes(t.SeedIdleLimit)
	}
	return minutes(set.SeedIdleLimit)
}

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
	if s.hasRatio && (s.ratio < 0 || s.ratio > 1e9) {
		return s, invalid("seed_ratio_limit", "a ratio from 0")
	}
	if s.idle, s.hasIdle, err = a.integer("seed_idle_limit"); err != nil {
		return s, err
	}
	if s.hasIdle && (s.idle < 0 || s.idle > math.MaxInt32) {
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
// Transmission keeps a limit's value apart from its mode; Lodestone keeps
// one number (-2 the session's, -1 none, else the limit). A value sent
// without a mode applies when the task's mode is its own (1), as in
// Transmission; a mode 1 without a value keeps the task's value, or takes
// the session's when it had none (Transmission's torrents start with the
// session's).
func (s seedArgs) apply(p *api.TaskSetParams, t api.Task, session api.Settings) bool {
	set := false
	if r, ok := resolveSeed(s.hasRatio, s.ratio, s.hasRatioMode, s.ratioMode, t.SeedRatioLimit, session.SeedRatioLimit); ok {
		p.SeedRatioLimit, set = &r, true
	}
	idleSec := float64(s.idle) * 60
	if r, ok := resolveSeed(s.hasIdle, idleSec, s.hasIdleMode, s.idleMode, float64(t.SeedIdleLimit), float64(session.SeedIdleLimit)); ok {
		v := int64(r)
		p.SeedIdleLimit, set = &v, true
	}
	return set
}

// resolveSeed folds a limit's value and mode into Lodestone's number,
// given the task's current one and the session's (0: none); ok is false
// when nothing changes.
func resolveSeed(hasV bool, v float64, hasMode bool, mode int64, cur, session float64) (float64, bool) {
	curMode := int64(modeOf(cur))
	if !hasMode {
		if !hasV || curMode != modeSingle {
			// A value alone under another mode: Transmission stores it
			// for when the mode becomes 1; Lodestone cannot hold it.
			return cur, false
		}
		return v, v != cur
	}
	switch mode {
	case modeGlobal:
		return api.SeedLimitSession, cur != api.SeedLimitSession
	case modeUnlimited:
		return api.SeedLimitNone, cur != api.SeedLimitNone
	}
	if hasV {
		return v, v != cur
	}
	if cur >= 0 {
		return cur, false
	}
	// Its own mode with no value of its own: the session's value, or
	// none when the session has none (0 would stop it at once).
	if session > 0 {
		return session, true
	}
	return api.SeedLimitNone, cur != api.SeedLimitNone
}

// queueTo moves t to position pos of the queue order (past the end: the
// bottom), one step at a time, as Transmission's queuePosition does.
func (h *Handler) queueTo(t api.Task, pos int) error {
	cur := t.QueuePosition
	for cur != pos {
		to := api.QueueUp
		if pos > cur {
			to = api.QueueDown
		}
		nt, err := h.svc.QueueMove(t.TaskID, to)
		if err != nil {
			return err
		}
		if nt.QueuePosition == cur {
			return nil // at the top or the bottom
		}
		cur = nt.QueuePosition
	}
	return nil
}
