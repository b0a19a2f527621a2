package service

import (
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Settings returns the daemon-wide settings.
func (s *Service) Settings() (api.Settings, error) {
	s.mu.Lock()
	set := s.settings
	s.mu.Unlock()
	port, err := s.store.PeerPort()
	if err != nil {
		return api.Settings{}, err
	}
	w := wireSettings(set, port)
	s.blocklistSettings(&w)
	s.networkSettings(&w)
	return w, nil
}

// SetSettings validates p, stores the result durably and applies it.
// Concurrent calls are serialised from read to write, so none loses
// another's update; the store write (settings and peer port together)
// runs without Service.mu.
func (s *Service) SetSettings(p api.SessionSetParams) (api.Settings, error) {
	leave, err := s.enter()
	if err != nil {
		return api.Settings{}, err
	}
	defer leave()
	s.settingsMu.Lock()
	defer s.settingsMu.Unlock()
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
	if p.SeedIdleLimit != nil {
		set.SeedIdleLimit = *p.SeedIdleLimit
	}
	if p.MaxActiveSeeds != nil {
		set.MaxActiveSeeds = *p.MaxActiveSeeds
	}
	if err := checkSettings(set); err != nil {
		return api.Settings{}, err
	}
	port := 0
	if p.PeerPort != nil {
		if *p.PeerPort < 0 || *p.PeerPort > 65535 {
			return api.Settings{}, fmt.Errorf("%w: peer_port must be 1 to 65535 (0 keeps the current one)", ErrInvalidParams)
		}
		port = *p.PeerPort
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
	// Checked before the blocklists are loaded: a bad network value
	// fails the call with nothing changed.
	applyNetwork, err := s.prepareNetwork(p)
	if err != nil {
		return api.Settings{}, err
	}
	if p.Blocklists != nil {
		// Loaded (and kept, by Blocklists.Set) before the other
		// settings are stored: a list that cannot be read fails the
		// call and changes nothing.
		if err := s.setBlocklists(*p.Blocklists); err != nil {
			return api.Settings{}, err
		}
	}
	if err := s.store.PutSettings(set, port); err != nil {
		return api.Settings{}, err
	}
	if applyNetwork != nil {
		if err := applyNetwork(); err != nil {
			return api.Settings{}, err
		}
	}
	x := s.lock()
	s.settings = set
	s.eng.SetRateLimits(set.DownloadRateLimit, set.UploadRateLimit)
	s.requeueLocked(x)
	x.unlock()
	return s.Settings()
}

// checkSettings refuses settings out of range.
func checkSettings(set store.Settings) error {
	switch {
	case set.DownloadRateLimit < 0, set.UploadRateLimit < 0:
		return fmt.Errorf("%w: rate limits must be 0 (none) or positive", ErrInvalidParams)
	case set.MaxActiveDownloads < 0, set.MaxActiveSeeds < 0:
		return fmt.Errorf("%w: max_active_downloads and max_active_seeds must be 0 (none) or positive", ErrInvalidParams)
	case set.SeedRatioLimit < 0 || set.SeedRatioLimit != set.SeedRatioLimit:
		return fmt.Errorf("%w: seed_ratio_limit must be 0 (none) or positive", ErrInvalidParams)
	case set.SeedTimeLimit < 0:
		return fmt.Errorf("%w: seed_time_limit must be 0 (none) or positive", ErrInvalidParams)
	case set.SeedIdleLimit < 0:
		return fmt.Errorf("%w: seed_idle_limit must be 0 (none) or positive", ErrInvalidParams)
	}
	return nil
}

// wireSettings renders the stored settings for the wire.
func wireSettings(set store.Settings, peerPort int) api.Settings {
	return api.Settings{
		DownloadRateLimit:  set.DownloadRateLimit,
		UploadRateLimit:    set.UploadRateLimit,
		MaxActiveDownloads: set.MaxActiveDownloads,
		SeedRatioLimit:     set.SeedRatioLimit,
		SeedTimeLimit:      set.SeedTimeLimit,
		SeedIdleLimit:      set.SeedIdleLimit,
		MaxActiveSeeds:     set.MaxActiveSeeds,
		DownloadDir:        set.DownloadDir,
		PeerPort:           peerPort,
		Blocklists:         []string{}, // filled in by blocklistSettings
		RestartRequired:    []string{}, // filled in by networkSettings
	}
}
