package main

import (
	"io"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon"
)

// doctorSetup settles, for `lodestone doctor`, what `lodestone serve`
// would start with given no flag but --config (path, when not empty):
// the configuration file, the environment and the defaults, validated as
// serve validates them. A wrong configuration is reported with serve's
// defaults in its stead, so the other checks still run.
func doctorSetup(lookupEnv func(string) (string, bool)) func(path string) cli.DoctorSetup {
	return func(path string) cli.DoctorSetup {
		var args []string
		if path != "" {
			args = []string{"--config", path}
		}
		s, err := settle(args, lookupEnv, io.Discard)
		if err != nil {
			def := daemon.Default()
			return cli.DoctorSetup{APIAddr: def.APIAddr, DataDir: def.DataDir, DownloadDir: def.DownloadDir, Err: err}
		}
		return cli.DoctorSetup{
			File:    s.conf.File,
			APIAddr: s.cfg.APIAddr, DataDir: s.cfg.DataDir, DownloadDir: s.cfg.DownloadDir, PeerAddr: s.cfg.PeerAddr,
			Err: s.cfg.Validate(),
		}
	}
}
