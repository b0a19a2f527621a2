package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// MaxTrackers caps the trackers of one task.
const MaxTrackers = 64

// Peers returns a task's connected peers.
func (s *Service) Peers(id string) (api.TaskPeersResult, error) {
	t, err := s.torrentOf(id)
	if err != nil {
		return api.TaskPeersResult{}, err
	}
	res := api.TaskPeersResult{Peers: []api.TaskPeer{}}
	if t == nil {
		return res, nil
	}
	for _, p := range t.Peers() {
		res.Peers = append(res.Peers, api.TaskPeer{
			Address: p.Addr, Client: p.Client, Network: p.Network, Source: p.Source,
			Downloaded: p.Downloaded, Uploaded: p.Uploaded,
			DownloadRate: p.DownloadRate, UploadRate: p.UploadRate, Progress: p.Progress, Flags: p.Flags,
			Encryption: p.Encryption,
		})
	}
	return res, nil
}

// Reannounce makes a task announce to every one of its trackers now, and
// look itself up on the DHT again when the DHT is on, rather than wait
// for their intervals. It returns once the engine is told: the announces
// run in the background, unbound by ctx, and task.trackers shows their
// outcome. A task that transfers nothing (paused, finished, a seed held
// by the queue, in error, busy) is refused with ErrTaskState: it has
// told its trackers it stopped.
func (s *Service) Reannounce(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	var t engine.Torrent
	switch {
	case err != nil:
	case tk.busy != "":
		err = fmt.Errorf("%w: task %s is busy %s", ErrTaskState, tk.rec.ID, tk.busy)
	case tk.t == nil || !tk.appliedSet || !tk.applied.download && !tk.applied.upload:
		err = fmt.Errorf("%w: task %s is %s: it transfers nothing, so it has nothing to announce", ErrTaskState, tk.rec.ID, tk.state)
	default:
		t = tk.t
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	t.Reannounce()
	return nil
}

// Trackers returns a task's trackers and what is known of each.
func (s *Service) Trackers(id string) (api.TaskTrackersResult, error) {
	t, err := s.torrentOf(id)
	if err != nil {
		return api.TaskTrackersResult{}, err
	}
	return trackersOf(t)
}

// trackersOf renders t's trackers (none when t is nil).
func trackersOf(t engine.Torrent) (api.TaskTrackersResult, error) {
	res := api.TaskTrackersResult{Trackers: []api.TaskTracker{}}
	if t == nil {
		return res, nil
	}
	for _, tr := range t.Trackers() {
		v := api.TaskTracker{URL: tr.URL, Status: "not_contacted", LastError: tr.LastError, Seeders: tr.Seeders, Leechers: tr.Leechers}
		if !tr.LastAnnounce.IsZero() {
			v.LastAnnounce = tr.LastAnnounce.UTC().Format(time.RFC3339)
			v.Status = "working"
			if tr.LastError != "" {
				v.Status = "error"
			}
		}
		if !tr.NextAnnounce.IsZero() {
			v.NextAnnounce = tr.NextAnnounce.UTC().Format(time.RFC3339)
		}
		res.Trackers = append(res.Trackers, v)
	}
	return res, nil
}

// AddTrackers adds tracker URLs to a task, durably.
func (s *Service) AddTrackers(id string, urls []string) (api.TaskTrackersResult, error) {
	return s.editTrackers(id, urls, func(cur []string, u string) []string {
		if slices.Contains(cur, u) {
			return cur
		}
		return append(cur, u)
	})
}

// RemoveTrackers removes tracker URLs from a task, durably.
func (s *Service) RemoveTrackers(id string, urls []string) (api.TaskTrackersResult, error) {
	return s.editTrackers(id, urls, func(cur []string, u string) []string {
		return slices.DeleteFunc(cur, func(c string) bool { return c == u })
	})
}

func (s *Service) editTrackers(id string, urls []string, edit func([]string, string) []string) (api.TaskTrackersResult, error) {
	if len(urls) == 0 {
		return api.TaskTrackersResult{}, fmt.Errorf("%w: urls is required", ErrInvalidParams)
	}
	for i, u := range urls {
		urls[i] = strings.TrimSpace(u)
		if err := engine.CheckTrackerURL(urls[i]); err != nil {
			return api.TaskTrackersResult{}, fmt.Errorf("%w: %w", ErrInvalidParams, err)
		}
	}
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return api.TaskTrackersResult{}, err
	}
	defer exit()
	s.mu.Lock()
	t := tk.t
	s.mu.Unlock()
	if t == nil {
		return api.TaskTrackersResult{}, fmt.Errorf("%w: task %s could not be loaded", ErrTaskState, tk.rec.ID)
	}
	var cur []string
	for _, tr := range t.Trackers() {
		cur = append(cur, tr.URL)
	}
	for _, u := range urls {
		cur = edit(cur, u)
	}
	if len(cur) > MaxTrackers {
		return api.TaskTrackersResult{}, fmt.Errorf("%w: at most %d trackers", ErrInvalidParams, MaxTrackers)
	}
	if cur == nil {
		cur = []string{}
	}
	if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.Trackers = cur }); err != nil {
		return api.TaskTrackersResult{}, err
	}
	s.mu.Lock()
	tk.rec.Trackers = cur
	if tk.t != nil {
		tk.t.SetTrackers(cur)
	}
	s.mu.Unlock()
	return trackersOf(t)
}
