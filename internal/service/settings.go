package service

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// settingsKey is where Settings live in the store.
const settingsKey = "session"

// loadSettings reads the stored settings (zero value when none).
func loadSettings(st *store.Store) (api.Settings, error) {
	var set api.Settings
	b, err := st.Setting(settingsKey)
	if err != nil || b == nil {
		return set, err
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return set, fmt.Errorf("decode settings: %w", err)
	}
	return set, nil
}

// Settings returns the daemon-wide settings.
func (s *Service) Settings() (api.Settings, error) {
	s.mu.Lock()
	set := s.settings
	s.mu.Unlock()
	b, err := s.store.Setting(store.SettingPeerPort)
	if err != nil {
		return api.Settings{}, err
	}
	set.PeerPort, _ = strconv.Atoi(string(b))
	return set, nil
}

// SetSettings validates p, stores the result durably and applies it.
func (s *Service) SetSettings(p api.SessionSetParams) (api.Settings, error) {
	s.mu.Lock()
	set := s.settings
	s.mu.Unlock()
	if p.DownloadRateLimit != nil {
		set.DownloadRateLimit = *p.DownloadRateLimit
	}
	if p.UploadRateLimit != nil {
		set.UploadRateLimit = *p.UploadRateLimit
	}
	if p.MaxActiveDownloads != nil {
		set.MaxActiveDownloads = *p.MaxActiveDownloads
	}
	if p.SeedRatioLimit != nil {
		set.SeedRatioLimit = *p.SeedRatioLimit
	}
	if p.SeedTimeLimit != nil {
		set.SeedTimeLimit = *p.SeedTimeLimit
	}
	if p.MaxActiveSeeds != nil {
		set.MaxActiveSeeds = *p.MaxActiveSeeds
	}
	if p.DownloadDir != nil {
		set.DownloadDir = ""
		if *p.DownloadDir != "" {
			dir, err := s.resolveDownloadDir(*p.DownloadDir, s.downloadDir)
			if err != nil {
				return api.Settings{}, err
			}
			set.DownloadDir = dir
		}
	}
	if p.PeerPort != nil && (*p.PeerPort < 0 || *p.PeerPort > 65535) {
		return api.Settings{}, fmt.Errorf("%w: peer_port must be 1 to 65535 (0 keeps the current one)", ErrInvalidParams)
	}
	switch {
	case set.DownloadRateLimit < 0, set.UploadRateLimit < 0:
		return api.Settings{}, fmt.Errorf("%w: rate limits must be 0 (none) or positive", ErrInvalidParams)
	case set.MaxActiveDownloads < 0, set.MaxActiveSeeds < 0:
		return api.Settings{}, fmt.Errorf("%w: max_active_downloads and max_active_seeds must be 0 (none) or positive", ErrInvalidParams)
	case set.SeedRatioLimit < 0 || set.SeedRatioLimit != set.SeedRatioLimit:
		return api.Settings{}, fmt.Errorf("%w: seed_ratio_limit must be 0 (none) or positive", ErrInvalidParams)
	case set.SeedTimeLimit < 0:
		return api.Settings{}, fmt.Errorf("%w: seed_time_limit must be 0 (none) or positive", ErrInvalidParams)
	}
	if p.PeerPort != nil && *p.PeerPort > 0 {
		if err := s.store.PutSetting(store.SettingPeerPort, []byte(strconv.Itoa(*p.PeerPort))); err != nil {
			return api.Settings{}, err
		}
	}
	set.PeerPort = 0 // kept under its own key
	b, err := json.Marshal(set)
	if err != nil {
		return api.Settings{}, err
	}
	s.mu.Lock()
	if err := s.store.PutSetting(settingsKey, b); err != nil {
		s.mu.Unlock()
		return api.Settings{}, err
	}
	s.settings = set
	s.eng.SetRateLimits(set.DownloadRateLimit, set.UploadRateLimit)
	s.requeueLocked()
	s.mu.Unlock()
	return s.Settings()
}

// requeueLocked starts the oldest waiting downloads up to
// max_active_downloads and the first finished seeds up to
// max_active_seeds, and queues the rest. s.mu must be held.
func (s *Service) requeueLocked() {
	var downloads, seeds []*task
	for _, tk := range s.tasks {
		switch {
		case tk.t == nil || tk.rec.Paused || tk.errText != "" || !tk.t.HasInfo() || tk.rec.SeedingDone:
			tk.queued = false
		case tk.done:
			seeds = append(seeds, tk)
		default:
			downloads = append(downloads, tk)
		}
	}
	byAdded := func(a, b *task) int {
		if c := a.rec.AddedAt.Compare(b.rec.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(a.rec.ID, b.rec.ID)
	}
	// Without a limit the order does not matter: sorting thousands of
	// tasks on every poll and add is skipped.
	if s.settings.MaxActiveDownloads > 0 {
		slices.SortFunc(downloads, byAdded)
	}
	if s.settings.MaxActiveSeeds > 0 {
		slices.SortFunc(seeds, func(a, b *task) int {
			if c := a.rec.FinishedAt.Compare(b.rec.FinishedAt); c != 0 {
				return c
			}
			return byAdded(a, b)
		})
	}
	for i, tk := range downloads {
		queue := s.settings.MaxActiveDownloads > 0 && i >= s.settings.MaxActiveDownloads
		if queue != tk.queued {
			tk.queued = queue
			if queue {
				tk.t.Stop()
			} else {
				s.startDownloadLocked(tk)
			}
		}
	}
	for i, tk := range seeds {
		queue := s.settings.MaxActiveSeeds > 0 && i >= s.settings.MaxActiveSeeds
		if queue != tk.queued {
			tk.queued = queue
			if queue {
				tk.t.StopUpload()
			} else {
				tk.t.Resume()
			}
		}
	}
}

// seedLimitReachedLocked reports whether a finished task has seeded
// enough. s.mu must be held.
func (s *Service) seedLimitReachedLocked(tk *task, now time.Time) bool {
	if !tk.done || tk.rec.FinishedAt.IsZero() {
		return false
	}
	set := s.settings
	if set.SeedRatioLimit > 0 && tk.stats.Completed > 0 &&
		float64(tk.uploaded())/float64(tk.stats.Completed) >= set.SeedRatioLimit {
		return true
	}
	return set.SeedTimeLimit > 0 && now.Sub(tk.rec.FinishedAt) >= time.Duration(set.SeedTimeLimit)*time.Second
}

// uploaded and downloaded are totals over all sessions.
func (tk *task) uploaded() int64   { return tk.rec.Uploaded - tk.flushedUp + tk.stats.BytesWritten }
func (tk *task) downloaded() int64 { return tk.rec.Downloaded - tk.flushedDown + tk.stats.BytesRead }

// flushTotalsLocked stores byte totals that changed since the last flush.
// s.mu must be held.
func (s *Service) flushTotalsLocked() {
	for _, tk := range s.tasks {
		s.flushTaskTotalsLocked(tk)
	}
}

// flushTaskTotalsLocked stores tk's byte totals if they changed. s.mu must
// be held.
func (s *Service) flushTaskTotalsLocked(tk *task) {
	up, down := tk.uploaded(), tk.downloaded()
	if up == tk.rec.Uploaded && down == tk.rec.Downloaded {
		return
	}
	err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.Uploaded, r.Downloaded = up, down })
	if err != nil {
		s.log.Warn("store totals", "task_id", tk.rec.ID, "err", err)
		return
	}
	tk.rec.Uploaded, tk.rec.Downloaded = up, down
	tk.flushedUp, tk.flushedDown = tk.stats.BytesWritten, tk.stats.BytesRead
}
