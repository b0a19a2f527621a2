package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/lodestone-bt/lodestone/internal/config"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/logging"
)

// settled is serve's configuration, settled from its command line, the
// environment, the configuration file and the defaults.
type settled struct {
	cfg  daemon.Config // Logger not set
	conf *config.Config
	// level, levels and format are the logs': the least level of all,
	// per component, and the format.
	level  slog.Level
	levels map[string]slog.Level
	format string
	// pprofAddr is --pprof-addr.
	pprofAddr string
	// tokenOnCommandLine: --token was given as a flag.
	tokenOnCommandLine bool
	// clusterPasswordOnCommandLine: --cluster-password was given as a
	// flag.
	clusterPasswordOnCommandLine bool
}

// settle parses args as serve's command line (usage errors go to stderr)
// and settles the configuration; lookupEnv reads the environment.
func settle(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*settled, error) {
	fs, sf := newServeFlags()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return settleParsed(fs, sf, lookupEnv)
}

// settleParsed settles the configuration of fs, newServeFlags' set after
// parsing.
func settleParsed(fs *flag.FlagSet, sf *serveFlags, lookupEnv func(string) (string, bool)) (*settled, error) {
	conf, err := config.Load(fs, config.Options{Path: *sf.Config, LookupEnv: lookupEnv, Skip: []string{"config"}, Checks: serveChecks()})
	if err != nil {
		return nil, err
	}
	s := &settled{cfg: *sf.Cfg, conf: conf, levels: conf.LogLevels, format: *sf.LogFormat, pprofAddr: *sf.PprofAddr}
	s.cfg.ProxyAllowDirect = !*sf.ProxyOnly
	if s.level, err = logging.ParseLevel(*sf.LogLevel); err != nil {
		return nil, err
	}
	tok, _ := conf.Lookup("token")
	s.tokenOnCommandLine = tok.Source.Kind == config.FromFlag
	pw, _ := conf.Lookup("cluster.password")
	s.clusterPasswordOnCommandLine = pw.Source.Kind == config.FromFlag
	if s.cfg.Token, err = tokenFrom(s.cfg.Token, s.tokenOnCommandLine, *sf.TokenFile); err != nil {
		return nil, err
	}
	s.cfg.TokenFile = *sf.TokenFile // named in the daemon file, for local clients
	ses := conf.Session
	s.cfg.Configured = &daemon.Configured{
		DownloadRateLimit:  ses.DownloadRateLimit,
		UploadRateLimit:    ses.UploadRateLimit,
		MaxActiveDownloads: ses.MaxActiveDownloads,
		MaxActiveSeeds:     ses.MaxActiveSeeds,
		SeedRatioLimit:     ses.SeedRatioLimit,
		SeedTimeLimit:      ses.SeedTimeLimit,
		SeedIdleLimit:      ses.SeedIdleLimit,
		DownloadDir:        ses.DownloadDir,
		Blocklists:         s.cfg.Blocklists,
		BindInterface:      s.cfg.BindInterface,
		BindAddress:        s.cfg.BindAddress,
		Proxy:              s.cfg.Proxy,
		ProxyOnly:          !s.cfg.ProxyAllowDirect,
		Encryption:         s.cfg.Encryption,
		Anonymous:          s.cfg.Anonymous,
	}
	return s, nil
}
