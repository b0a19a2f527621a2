package daemon

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
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
//
// The network settings (bind_interface ... anonymous, which session.set
// also changes: netsettings.go) are applied at start by dropping
// session.set's stored value of each one the configuration changed, so
// that the flag's (Config's) is used from the first connection; by
// Reconfigure like the others, through session.set, which applies them
// live or reports them pending a restart.
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
	BindInterface      string   `json:"bind_interface"`
	BindAddress        string   `json:"bind_address"`
	Proxy              string   `json:"proxy"`
	ProxyOnly          bool     `json:"proxy_only"`
	Encryption         string   `json:"encryption"`
	Anonymous          bool     `json:"anonymous"`
}

// defaultConfigured is what a configuration that gives nothing gives.
func defaultConfigured() Configured {
	return Configured{ProxyOnly: true, Encryption: engine.EncryptionPrefer}
}

// networkFields are Configured's network settings: their wire names (the
// keys of netsettings.go's stored JSON) and values.
func networkFields(c Configured) map[string]any {
	enc := c.Encryption
	if enc == "" {
		enc = engine.EncryptionPrefer
	}
	return map[string]any{
		"bind_interface": c.BindInterface,
		"bind_address":   c.BindAddress,
		"proxy":          c.Proxy,
		"proxy_only":     c.ProxyOnly,
		"encryption":     enc,
		"anonymous":      c.Anonymous,
	}
}

// withNetwork returns c with from's network settings.
func (c Configured) withNetwork(from Configured) Configured {
	c.BindInterface, c.BindAddress, c.Proxy = from.BindInterface, from.BindAddress, from.Proxy
	c.ProxyOnly, c.Encryption, c.Anonymous = from.ProxyOnly, from.Encryption, from.Anonymous
	return c
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
	{"bind_interface", func(c Configured) any { return c.BindInterface },
		func(p *api.SessionSetParams, c Configured) { p.BindInterface = &c.BindInterface },
		func(s api.Settings) any { return s.BindInterface }},
	{"bind_address", func(c Configured) any { return c.BindAddress },
		func(p *api.SessionSetParams, c Configured) { p.BindAddress = &c.BindAddress },
		func(s api.Settings) any { return s.BindAddress }},
	// The wire value is masked: the log never shows the password.
	{"proxy", func(c Configured) any { return c.Proxy },
		func(p *api.SessionSetParams, c Configured) { p.Proxy = &c.Proxy },
		func(s api.Settings) any { return s.Proxy }},
	{"proxy_only", func(c Configured) any { return c.ProxyOnly },
		func(p *api.SessionSetParams, c Configured) { p.ProxyOnly = &c.ProxyOnly },
		func(s api.Settings) any { return s.ProxyOnly }},
	{"encryption", func(c Configured) any { return networkFields(c)["encryption"] },
		func(p *api.SessionSetParams, c Configured) {
			e := networkFields(c)["encryption"].(string)
			p.Encryption = &e
		},
		func(s api.Settings) any { return s.Encryption }},
	{"anonymous", func(c Configured) any { return c.Anonymous },
		func(p *api.SessionSetParams, c Configured) { p.Anonymous = &c.Anonymous },
		func(s api.Settings) any { return s.Anonymous }},
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

// lastConfigured returns the Configured applied last; every default if
// none ever was.
func (d *Daemon) lastConfigured() (Configured, error) {
	c := defaultConfigured()
	raw, err := d.store.Setting(configuredKey)
	if err != nil || raw == nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("stored configured settings: %w", err)
	}
	return c, nil
}

// configuredNetwork drops, at start, session.set's stored value of each
// network setting whose configured value changed since last applied, so
// that the configuration's (Config's) is used; loadNetwork then lays the
// rest over the flags. A no-op without Config.Configured.
func (d *Daemon) configuredNetwork() error {
	if d.cfg.Configured == nil {
		return nil
	}
	last, err := d.lastConfigured()
	if err != nil {
		return err
	}
	raw, err := d.store.Setting(networkKey)
	if err != nil || raw == nil {
		return err
	}
	var stored map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stored); err != nil {
		return fmt.Errorf("stored network settings: %w", err)
	}
	was, now := networkFields(last), networkFields(*d.cfg.Configured)
	changed := false
	for _, key := range slices.Sorted(maps.Keys(now)) {
		if _, ok := stored[key]; ok && was[key] != now[key] {
			delete(stored, key)
			changed = true
			// The proxy's value is not logged: it may hold a password.
			d.log.Info("configured setting applied: session.set's value dropped", "key", key)
		}
	}
	if !changed {
		return nil
	}
	if raw, err = json.Marshal(stored); err != nil {
		return err
	}
	return d.store.PutSetting(networkKey, raw)
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
	// Already in force: the blocklists (configuredBlocklists) and the
	// network settings (configuredNetwork).
	last.Blocklists = d.cfg.Configured.Blocklists
	last = last.withNetwork(*d.cfg.Configured)
	if err := d.reconfigure(last, *d.cfg.Configured, "configured setting applied"); err != nil {
		return fmt.Errorf("configured settings: %w", err)
	}
	return nil
}

// Reconfigure applies the settings of a reloaded configuration (SIGHUP)
// that changed since the configuration last gave them, through
// session.set's path, and logs each (key, old value in force, new).
// The others are left as session.set made them. A network setting the
// engine cannot change live is logged as pending a restart.
//
// It may be called from any goroutine while Run runs; after Close has
// begun it returns ErrClosed, and Close waits for one under way.
func (d *Daemon) Reconfigure(c Configured) error {
	d.reconf.Lock()
	defer d.reconf.Unlock()
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
			if slices.Contains(after.RestartRequired, f.key) {
				d.log.Warn("setting not fully in force until a restart", "key", f.key)
			}
		}
	}
	raw, err := json.Marshal(now)
	if err != nil {
		return err
	}
	return d.store.PutSetting(configuredKey, raw)
}
