package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

// Blocklists are the daemon's IP blocklists (internal/blocklist's
// Loader, with its Filter's counts), as session.get and session.set see
// them. Safe for concurrent use.
type Blocklists interface {
	// Sources are the lists in force, paths and URLs.
	Sources() []string
	// Set replaces them, reading every one first, and keeps them for
	// the next start; on error nothing changed.
	Set(ctx context.Context, sources []string) error
	// Counts are the rules read, the lines skipped as malformed, and the
	// addresses and connections refused since start.
	Counts() (rules, skipped int, refused int64)
}

// blocklistSettings fills the blocklist fields of w.
func (s *Service) blocklistSettings(w *api.Settings) {
	w.Blocklists = []string{}
	if s.blocklists == nil {
		return
	}
	w.Blocklists = s.blocklists.Sources()
	if w.Blocklists == nil {
		w.Blocklists = []string{}
	}
	w.BlocklistRules, w.BlocklistSkipped, w.BlocklistRefused = s.blocklists.Counts()
}

// setBlocklists puts sources in force, or fails with ErrInvalidParams
// and changes nothing.
func (s *Service) setBlocklists(sources []string) error {
	if s.blocklists == nil {
		return fmt.Errorf("%w: blocklists are not supported by this daemon", ErrInvalidParams)
	}
	if err := s.blocklists.Set(s.ctx, sources); err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	return nil
}
