package cli

import (
	"context"
	"sync"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// A task's alerts are what a user should look at: its error (state
// error), its network being down (serve --bind-interface), and trackers
// failing. The daemon sends alerts as engine.alert events, which are gone
// once sent; what stays is on the task and its trackers, so the CLI shows
// that: ls as a short ALERT column, info in full.

// trackerAlerts returns the failing trackers among trackers: every one in
// status error. failing reports that none works, so the task cannot
// announce at all (ls marks only that: a torrent often lists dead
// trackers beside working ones).
func trackerAlerts(trackers []api.TaskTracker) (errs []api.TaskTracker, failing bool) {
	working := false
	for _, tr := range trackers {
		switch tr.Status {
		case "error":
			errs = append(errs, tr)
		case "working":
			working = true
		}
	}
	return errs, len(errs) > 0 && !working
}

// shortAlert is ls's ALERT cell for a task with its trackers.
func shortAlert(t api.Task, trackers []api.TaskTracker) string {
	switch {
	case t.Error != "":
		return "error: " + truncate(sanitize(t.Error), 40)
	case t.Network == api.NetworkDown:
		return "network down"
	}
	if errs, failing := trackerAlerts(trackers); failing {
		return "tracker: " + truncate(sanitize(errs[0].LastError), 40)
	}
	return "-"
}

// allTrackers fetches the trackers of every task, a few requests at a
// time. A task whose trackers cannot be read (removed meanwhile) has none.
func allTrackers(ctx context.Context, c *client.Client, tasks []api.Task) map[string][]api.TaskTracker {
	out := make(map[string][]api.TaskTracker, len(tasks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, t := range tasks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			trs, err := c.TaskTrackers(ctx, t.TaskID)
			if err != nil {
				return
			}
			mu.Lock()
			out[t.TaskID] = trs
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
