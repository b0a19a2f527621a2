package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/lodestone-bt/lodestone/internal/config"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/logging"
)

// reloader reloads serve's configuration on SIGHUP: the command line is
// the same, the file is read again (the environment is the process's and
// cannot change). What can change while running is applied: session.set's
// settings and the blocklists through the daemon's Reconfigure, the log
// levels here; every other changed key is logged as needing a restart.
type reloader struct {
	args    []string
	inForce *settled // the configuration in force: restart-only keys as at start
	daemon  *daemon.Daemon
	levels  *logging.Levels
	log     *slog.Logger
}

// run reloads at each signal from hup until ctx ends.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload()
		}
	}
}

// reload reads the configuration again and applies it; a configuration
// that is wrong changes nothing.
func (r *reloader) reload() {
	next, err := settle(r.args, os.LookupEnv, io.Discard)
	if err != nil {
		r.log.Error("configuration not reloaded: it has an error; the one in force stays", "err", err)
		return
	}
	var restart []string
	for _, c := range config.Diff(r.inForce.conf, next.conf) {
		switch {
		case !c.Runtime:
			restart = append(restart, c.Key)
			r.log.Warn("configuration change needs a restart", "key", c.Key, "old", c.Old, "new", c.New)
		case c.Key == "log_level" || c.Key == "log_levels":
			r.log.Info("configuration changed", "key", c.Key, "old", c.Old, "new", c.New)
		}
	}
	// The daemon logs each setting it changes.
	if err := r.daemon.Reconfigure(*next.cfg.Configured); err != nil {
		r.log.Error("configuration reload: settings not applied", "err", err)
		return
	}
	r.levels.Set(next.level, next.levels)
	r.inForce = &settled{
		cfg: r.inForce.cfg, conf: config.Applied(r.inForce.conf, next.conf),
		level: next.level, levels: next.levels, format: r.inForce.format,
		pprofAddr: r.inForce.pprofAddr, tokenOnCommandLine: r.inForce.tokenOnCommandLine,
	}
	r.log.Info("configuration reloaded", "file", next.conf.File, "needs_restart", restart)
}
