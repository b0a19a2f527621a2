// Command lodestone is the Lodestone BitTorrent daemon and its tools.
// `lodestone serve` runs the daemon; every other subcommand (add, ls, info,
// pause, resume, rm, set, watch, stats, help) is a client of a running
// daemon, implemented in internal/cli. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/logging"
	"github.com/lodestone-bt/lodestone/internal/sdnotify"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "config" {
		os.Exit(runConfig(args[1:], os.LookupEnv, os.Stdout, os.Stderr))
	}
	if len(args) > 0 && args[0] == "serve" {
		if err := serve(args[1:], os.Stdout, os.Stderr); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "lodestone:", err)
			}
			os.Exit(2)
		}
		return
	}
	// Every other command is a client of a running daemon.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	if len(args) > 0 && args[0] == "doctor" { // checks serve's configuration too
		code = cli.RunDoctor(ctx, args[1:], os.Stdout, os.Stderr, doctorSetup(os.LookupEnv))
	} else {
		code = cli.Main(ctx, args, cli.Options{Stdout: os.Stdout, Stderr: os.Stderr, ServeFlags: serveFlagSet})
	}
	stop()
	os.Exit(code)
}

func serve(args []string, stdout, stderr io.Writer) error {
	s, err := settle(args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	cfg := s.cfg
	if v := os.Getenv("LODESTONE_TEST_STALL_AFTER_FILES"); v != "" {
		// A hook for the crash tests only (daemon.Config).
		if cfg.TestStallAfterFiles, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("LODESTONE_TEST_STALL_AFTER_FILES: %w", err)
		}
	}
	levels := logging.NewLevels(s.level, s.levels)
	cfg.Logger = slog.New(logging.NewHandler(stderr, logging.Options{
		Format:  s.format,
		Levels:  levels,
		Journal: logging.StderrIsJournal(os.Getenv),
	}))
	if s.conf.File != "" {
		cfg.Logger.Info("configuration read", "file", s.conf.File)
	}
	if before, after, err := raiseFileLimit(); err != nil {
		cfg.Logger.Warn("raise the open-file limit", "err", err, "limit", before)
	} else if after > before {
		cfg.Logger.Info("open-file limit raised", "from", before, "to", after)
	}
	if s.tokenOnCommandLine {
		cfg.Logger.Warn("--token on the command line is visible to every local user (ps, /proc): prefer --token-file or LODESTONE_TOKEN")
	}
	if s.clusterPasswordOnCommandLine {
		cfg.Logger.Warn("--cluster-password on the command line is visible to every local user (ps, /proc): prefer LODESTONE_CLUSTER_PASSWORD or the config file")
	}

	// Under a Type=notify systemd unit: READY=1, STOPPING=1 and the
	// watchdog (contrib/systemd).
	if n, err := sdnotify.New(os.Getenv, os.Getpid()); err != nil {
		cfg.Logger.Warn("not notifying systemd", "err", err)
	} else if n != nil {
		cfg.Notifier = n
		// A service's stdout is the journal, which more than the
		// daemon's user reads: no banner, which shows the token. The
		// "serving" log line names the API.
		stdout = io.Discard
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP reloads the configuration (reload.go); asked for before the
	// daemon starts, so that a reload sent once it is up is never the
	// default action, which ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var prof *pprofServer
	if s.pprofAddr != "" {
		var err error
		if prof, err = listenPprof(s.pprofAddr, cfg.Logger); err != nil {
			return err
		}
	}
	d, err := daemon.New(cfg)
	if err != nil {
		if prof != nil {
			prof.ln.Close()
		}
		return err
	}
	if prof != nil {
		prof.srv.Handler = pprofHandler(d.Guard())
	}
	fmt.Fprintf(stdout, "Lodestone is running.\n  Web UI: %s\n", d.WebURL())
	for _, u := range d.OtherWebURLs() { // --api-addr 0.0.0.0: every address
		fmt.Fprintf(stdout, "          %s\n", u)
	}
	fmt.Fprintf(stdout, "  API:    %s\n  Token:  %s\n  URL:    %s\n", d.APIURL(), d.Token(), d.URL())
	// The daemon, the profiler and the reloads end together, and serve
	// returns once all have.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	if prof != nil {
		g.Go(func() error { return prof.run(ctx) })
	}
	r := &reloader{args: args, inForce: s, daemon: d, levels: levels, log: cfg.Logger}
	g.Go(func() error { r.run(ctx, hup); return nil })
	g.Go(func() error {
		defer cancel()
		return d.Run(ctx)
	})
	return g.Wait()
}

// tokenFrom settles the API token: from --token-file when given (never
// together with --token on the command line), else the --token flag's
// value (the environment's when the flag is not set).
func tokenFrom(flagValue string, onCommandLine bool, file string) (string, error) {
	if file == "" {
		return flagValue, nil
	}
	if onCommandLine {
		return "", errors.New("give --token or --token-file, not both")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token-file %s is empty", file)
	}
	return tok, nil
}

// serveFlagSet is serve's flag set, for the completion and the man page
// (cli.Options.ServeFlags).
func serveFlagSet() *flag.FlagSet {
	fs, _ := newServeFlags()
	return fs
}
