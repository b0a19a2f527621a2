package service

import (
	"fmt"
	"math"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// The task clock: how long a task has run while incomplete (downloading)
// and while complete (seeding), over its life, for seconds_downloading
// and seconds_seeding, and since when a seeding task has uploaded nothing,
// for the idle seeding limit. The time is counted on every account of the
// task (each poll that reads it, each change of its state), so it is as
// fine as the poll; the view adds the time since the last count.

// clockKind is what a task's time counts as.
type clockKind uint8

const (
	clockIdle clockKind = iota // not running: paused, queued, in error, finished, busy
	clockDown                  // running, incomplete (metadata, checking or downloading)
	clockSeed                  // running, complete, seeding limit not reached
)

// secondsFlushSlack is how much unstored time a task may gather before
// the poll's totals flush stores it even though no byte moved: quiet
// tasks are not rewritten every minute for their clocks. Close stores
// the rest.
const secondsFlushSlack = 10 * time.Minute

// kindNow is what tk's time counts as in its present state. Service.mu
// must be held.
func (tk *task) kindNow() clockKind {
	if tk.busy != "" {
		return clockIdle
	}
	switch tk.state {
	case api.StateMetadata, api.StateChecking, api.StateDownloading, api.StateSeeding:
		if tk.done {
			return clockSeed
		}
		return clockDown
	}
	return clockIdle
}

// tickClock counts the time since the last tick as what the task was
// doing then, and starts counting what it does now. Service.mu must be
// held.
func (tk *task) tickClock(now time.Time) {
	if !tk.clockAt.IsZero() {
		if d := now.Sub(tk.clockAt); d > 0 {
			switch tk.clockKind {
			case clockDown:
				tk.secDown += d
			case clockSeed:
				tk.secSeed += d
			}
		}
	}
	kind := tk.kindNow()
	if kind == clockSeed && tk.clockKind != clockSeed {
		tk.seedingSince = now
	}
	tk.clockKind, tk.clockAt = kind, now
}

// seconds returns the time tk has spent downloading and seeding up to
// now. Service.mu must be held.
func (tk *task) seconds(now time.Time) (down, seed time.Duration) {
	down, seed = tk.secDown, tk.secSeed
	if d := now.Sub(tk.clockAt); !tk.clockAt.IsZero() && d > 0 {
		switch tk.clockKind {
		case clockDown:
			down += d
		case clockSeed:
			seed += d
		}
	}
	return down, seed
}

// idleFrom is the time since which a seeding task has uploaded nothing:
// its last upload, or when it began seeding (started, resumed, left the
// queue) if later. Zero when it is not seeding. Service.mu must be held.
func (tk *task) idleFrom() time.Time {
	if tk.clockKind != clockSeed {
		return time.Time{}
	}
	if tk.uploadAt.After(tk.seedingSince) {
		return tk.uploadAt
	}
	return tk.seedingSince
}

// seedLimits are a task's effective seeding limits: its own where it has
// them, else the session's. A limit is off when its has* is false.
type seedLimits struct {
	ratio                      float64
	time, idle                 time.Duration
	hasRatio, hasTime, hasIdle bool
}

// limitsOf returns the seeding limits of a task with record rec under the
// session settings set.
func limitsOf(rec *store.Task, set store.Settings) seedLimits {
	var l seedLimits
	switch r := rec.SeedRatioLimit; {
	case r == nil:
		l.ratio, l.hasRatio = set.SeedRatioLimit, set.SeedRatioLimit > 0
	case *r >= 0:
		l.ratio, l.hasRatio = *r, true
	}
	seconds := func(own *int64, session int64) (time.Duration, bool) {
		switch {
		case own == nil:
			return time.Duration(session) * time.Second, session > 0
		case *own >= 0:
			return time.Duration(*own) * time.Second, true
		}
		return 0, false
	}
	l.time, l.hasTime = seconds(rec.SeedTimeLimit, set.SeedTimeLimit)
	l.idle, l.hasIdle = seconds(rec.SeedIdleLimit, set.SeedIdleLimit)
	return l
}

// reached reports whether a task that finished at finishedAt, with
// completed bytes and uploaded bytes over its life, idle since idleFrom
// (zero when not seeding), has seeded enough by l at now.
func (l seedLimits) reached(finishedAt time.Time, completed, uploaded int64, idleFrom, now time.Time) bool {
	if finishedAt.IsZero() {
		return false
	}
	if l.hasRatio && completed > 0 && float64(uploaded)/float64(completed) >= l.ratio {
		return true
	}
	return l.timeUp(finishedAt, idleFrom, now)
}

// timeUp reports whether the time or idle limit of l is reached at now.
func (l seedLimits) timeUp(finishedAt, idleFrom, now time.Time) bool {
	if l.hasTime && now.Sub(finishedAt) >= l.time {
		return true
	}
	return l.hasIdle && !idleFrom.IsZero() && now.Sub(idleFrom) >= l.idle
}

// checkSeedLimits refuses per-task seeding limits other than
// api.SeedLimitSession, api.SeedLimitNone and 0 or more.
func checkSeedLimits(ratio *float64, seedTime, idle *int64) error {
	bad := func(name string) error {
		return fmt.Errorf("%w: %s must be -2 (the session's), -1 (none), or 0 or more", ErrInvalidParams, name)
	}
	if r := ratio; r != nil && (math.IsNaN(*r) || math.IsInf(*r, 0) || *r < 0 && *r != api.SeedLimitSession && *r != api.SeedLimitNone) {
		return bad("seed_ratio_limit")
	}
	if v := seedTime; v != nil && *v < 0 && *v != api.SeedLimitSession && *v != api.SeedLimitNone {
		return bad("seed_time_limit")
	}
	if v := idle; v != nil && *v < 0 && *v != api.SeedLimitSession && *v != api.SeedLimitNone {
		return bad("seed_idle_limit")
	}
	return nil
}

// ownLimit turns a per-task limit from the wire into the record's form:
// nil for api.SeedLimitSession.
func ownLimit[T int64 | float64](v T) *T {
	if v == api.SeedLimitSession {
		return nil
	}
	return &v
}
