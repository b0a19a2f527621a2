package daemon

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/lodestone-bt/lodestone/api"
)

// Configured are the settings of session.set that `lodestone serve`'s
// configuration (flags, environment, config file) gives.
//
// Each of these settings has two writers, the configuration and
// session.set, and the later change wins: a configured value is applied
// (at start, or by Reconfigure on SIGHUP) when it differs from the one the
// configuration gave the last time it was applied, which the store keeps;
// a value set by session.set lasts until then. So editing the file (or a
// flag) always takes effect, and a change made in the web UI is not undone
// by a restart with an unchanged file. A configuration that never gave a
// setting counts as having given its default, so a daemon that ran before
// there was a file keeps its stored settings.
type Configured struct {
	DownloadRateLimit  int64    `json:"download_rate_limit"`
	UploadRateLimit    int64    `json:"upload_rate_limit"`
	MaxActiveDownloads int      `json:"max_active_downloads"`
	MaxActiveSeeds     int      `json:"max_active_seeds"`
	SeedRatioLimit     float64  `json:"seed_ratio_limit"`
	SeedTimeLimit      int64    `json:"seed_time_limit"`
	SeedIdleLimit      int64    `json:"seed_idle_limit"`
	DownloadDir        string   `json:"download_dir"`
	Blocklists         []string `json:"blocklists"`
}

// configuredKey is the store's setting holding the Configured last
// applied, as JSON.
const configuredKey = "configured"

// configuredField is one setting of Configured: its configuration key,
// how it differs, and how it goes into session.set's params.
type configuredField struct {
	key  string
	get  func(Configured) any
	set  func(*api.SessionSetParams, Configured)
	wire func(api.Settings) any
}

var configuredFields = []configuredField{
	{"session.download_rate_limit", func(c Configured) any { return c.DownloadRateLimit },
		func(p *api.SessionSetParams, c Configured) { p.DownloadRateLimit = &c.DownloadRateLimit },
		func(s api.Settings) any { return s.DownloadRateLimit }},
	{"session.upload_rate_limit", func(c Configured) any { return c.UploadRateLimit },
		func(p *api.SessionSetParams, c Configured) { p.UploadRateLimit = &c.UploadRateLimit },
		func(s api.Settings) any { return s.UploadRateLimit }},
	{"session.max_active_downloads", func(c Configured) any { return c.MaxActiveDownloads },
		func(p *api.SessionSetParams, c Configured) { p.MaxActiveDownloads = &c.MaxActiveDownloads },
		func(s api.Settings) any { return s.MaxActiveDownloads }},
	{"session.max_active_seeds", func(c Configured) any { return c.MaxActiveSeeds },
		func(p *api.SessionSetParams, c Configured) { p.MaxActiveSeeds = &c.MaxActiveSeeds },
		func(s api.Settings) any { return s.MaxActiveSeeds }},
	{"session.seed_ratio_limit", func(c Configured) any { return c.SeedRatioLimit },
		func(p *api.SessionSetParams, c Configured) { p.SeedRatioLimit = &c.SeedRatioLimit },
		func(s api.Settings) any { return s.SeedRatioLimit }},
	{"session.seed_time_limit", func(c Configured) any { return c.SeedTimeLimit },
		func(p *api.SessionSetParams, c Configured) { p.SeedTimeLimit = &c.SeedTimeLimit },
		func(s api.Settings) any { return s.SeedTimeLimit }},
	{"session.seed_idle_limit", func(c Configured) any { return c.SeedIdleLimit },
		func(p *api.SessionSetParams, c Configured) { p.SeedIdleLimit = &c.SeedIdleLimit },
		func(s api.Settings) any { return s.SeedIdleLimit }},
	{"session.download_dir", func(c Configured) any { return c.DownloadDir },
		func(p *api.SessionSetParams, c Configured) { p.DownloadDir = &c.DownloadDir },
		func(s api.Settings) any { return s.DownloadDir }},
	{"blocklist", func(c Configured) any { return fmt.Sprintf("%q", c.Blocklists) },
		func(p *api.SessionSetParams, c Configured) {
			b := slices.Clone(c.Blocklists)
			if b == nil {
				b = []string{}
			}
			p.Blocklists = &b
		},
		func(s api.Settings) any { return fmt.Sprintf("%q", s.Blocklists) }},
}

// lastConfigured returns the Configured applied last; the zero value
// (every default) if none ever was.
func (d *Daemon) lastConfigured() (Configured, error) {
	var c Configured
	raw, err := d.store.Setting(configuredKey)
	if err != nil || raw == nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("stored configured settings: %w", err)
	}
	return c, nil
}

// configuredBlocklists stores the configured blocklists, when they
// changed, as session.set would, before the lists in force are loaded at
// start: a list the configuration dropped is then never read. A no-op
// without Config.Configured.
func (d *Daemon) configuredBlocklists() error {
	if d.cfg.Configured == nil {
		return nil
	}
	last, err := d.lastConfigured()
	if err != nil {
		return err
	}
	now := d.cfg.Configured.Blocklists
	if slices.Equal(last.Blocklists, now) {
		return nil
	}
	if now == nil {
		now = []string{}
	}
	raw, err := json.Marshal(now)
	if err != nil {
		return err
	}
	d.log.Info("configured setting applied", "key", "blocklist", "new", fmt.Sprintf("%q", now))
	return d.store.PutSetting(blocklistsKey, raw)
}

// applyConfigured applies, at start, the configured settings that changed
// since last applied, through session.set's path; the blocklists were
// settled by configuredBlocklists. A no-op without Config.Configured.
func (d *Daemon) applyConfigured() error {
	if d.cfg.Configured == nil {
		return nil
	}
	last, err := d.lastConfigured()
	if err != nil {
		return err
	}
	// Already in force.
	last.Blocklists = d.cfg.Configured.Blocklists
	if err := d.reconfigure(last, *d.cfg.Configured, "configured setting applied"); err != nil {
		return fmt.Errorf("configured settings: %w", err)
	}
	return nil
}

// Reconfigure applies the settings of a reloaded configuration (SIGHUP)
// that changed since the configuration last gave them, through
// session.set's path, and logs each (key, old value in force, new).
// The others are left as session.set made them.
func (d *Daemon) Reconfigure(c Configured) error {
	d.mu.Lock()
	closing := d.closing
	d.mu.Unlock()
	if closing {
		return ErrClosed
	}
	last, err := d.lastConfigured()
	if err != nil {
		return err
	}
	return d.reconfigure(last, c, "setting changed by the configuration")
}

// reconfigure sets the settings where now differs from last, then keeps
// now as the last applied.
func (d *Daemon) reconfigure(last, now Configured, msg string) error {
	var p api.SessionSetParams
	var changed []configuredField
	for _, f := range configuredFields {
		if f.get(last) != f.get(now) {
			f.set(&p, now)
			changed = append(changed, f)
		}
	}
	if len(changed) > 0 {
		before, err := d.svc.Settings()
		if err != nil {
			return err
		}
		after, err := d.svc.SetSettings(p)
		if err != nil {
			return err
		}
		for _, f := range changed {
			d.log.Info(msg, "key", f.key, "old", f.wire(before), "new", f.wire(after))
		}
	}
	raw, err := json.Marshal(now)
	if err != nil {
		return err
	}
	return d.store.PutSetting(configuredKey, raw)
}
