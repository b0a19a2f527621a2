package qbittorrent

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// The queue order, seeding limits and reannounces: Lodestone's per-task
// facts and controls (task.queue_move, task.set's seed limits,
// task.reannounce) under qBittorrent's names.

// queueMove is torrents/topPrio, bottomPrio, increasePrio and
// decreasePrio: hashes. qBittorrent refuses them with 409 when its queue
// is off; Lodestone's is off when neither downloads nor seeds are
// limited. Several tasks keep their order among themselves: each is moved
// in the order that leaves them so (for top and down, the last in the
// queue first).
func queueMove(to string) func(*Handler, http.ResponseWriter, *http.Request) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request) {
		if !need(w, r, "hashes") {
			return
		}
		set, err := h.svc.Settings()
		if err != nil {
			h.fail(w, err)
			return
		}
		if set.MaxActiveDownloads == 0 && set.MaxActiveSeeds == 0 {
			writeStatus(w, http.StatusConflict, "Torrent queueing must be enabled")
			return
		}
		tasks := h.tasksFor(r.FormValue("hashes"))
		slices.SortFunc(tasks, func(a, b api.Task) int { return a.QueuePosition - b.QueuePosition })
		if to == api.QueueTop || to == api.QueueDown {
			slices.Reverse(tasks)
		}
		var first error
		for _, t := range tasks {
			if _, err := h.svc.QueueMove(t.TaskID, to); err != nil && !errors.Is(err, service.ErrTaskNotFound) && first == nil {
				first = err
			}
		}
		if first != nil {
			h.fail(w, first)
			return
		}
		writeText(w, "")
	}
}

// qBittorrent's bounds on share limits: a larger ratio is its largest,
// a longer time (minutes) its longest.
const (
	maxRatio       = 9998
	maxSeedMinutes = 525600
)

// ratioLimit reads a ratio limit as qBittorrent does: -2 the session's,
// below that none (-1), above its largest its largest. A negative value
// other than -2 is none too, Lodestone's only other negative value.
func ratioLimit(name, v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("%s must be a number", name)
	}
	switch {
	case f == api.SeedLimitSession:
		return f, nil
	case f < 0:
		return api.SeedLimitNone, nil
	}
	return min(f, maxRatio), nil
}

// minutesLimit reads a time limit in minutes as qBittorrent does and
// returns it in seconds, Lodestone's unit: -2 and -1 are kept.
func minutesLimit(name, v string) (int64, error) {
	m, ok := parseInt(v)
	if !ok {
		return 0, fmt.Errorf("%s must be an integer", name)
	}
	switch {
	case m == api.SeedLimitSession:
		return m, nil
	case m < 0:
		return api.SeedLimitNone, nil
	}
	return min(m, maxSeedMinutes) * 60, nil
}

// shareLimitParams reads the share limits of r that are there into the three
// pointers (nil: absent or empty).
func shareLimitParams(r *http.Request) (ratio *float64, seed, idle *int64, err error) {
	if strings.TrimSpace(r.FormValue("ratioLimit")) != "" {
		v, err := ratioLimit("ratioLimit", r.FormValue("ratioLimit"))
		if err != nil {
			return nil, nil, nil, err
		}
		ratio = &v
	}
	for _, l := range []struct {
		name string
		dst  **int64
	}{{"seedingTimeLimit", &seed}, {"inactiveSeedingTimeLimit", &idle}} {
		if strings.TrimSpace(r.FormValue(l.name)) == "" {
			continue
		}
		v, err := minutesLimit(l.name, r.FormValue(l.name))
		if err != nil {
			return nil, nil, nil, err
		}
		*l.dst = &v
	}
	return ratio, seed, idle, nil
}

// setShareLimits is torrents/setShareLimits: hashes, ratioLimit,
// seedingTimeLimit and inactiveSeedingTimeLimit (minutes; -2 the
// session's, -1 none). inactiveSeedingTimeLimit may be left out (the
// limit stays as it is), as Sonarr leaves it out.
func (h *Handler) setShareLimits(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes", "ratioLimit", "seedingTimeLimit") {
		return
	}
	ratio, seed, idle, err := shareLimitParams(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	p := api.TaskSetParams{SeedRatioLimit: ratio, SeedTimeLimit: seed, SeedIdleLimit: idle}
	h.each(w, r, func(id string) error {
		_, err := h.svc.Set(id, p)
		return err
	})
}

// reannounce is torrents/reannounce: hashes. A task that transfers
// nothing (paused, finished) has nothing to announce and is skipped, as
// qBittorrent skips a stopped torrent.
func (h *Handler) reannounce(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	h.each(w, r, func(id string) error {
		if err := h.svc.Reannounce(r.Context(), id); err != nil && !errors.Is(err, service.ErrTaskState) {
			return err
		}
		return nil
	})
}
