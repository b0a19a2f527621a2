package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lodestone-bt/lodestone/internal/config"
)

// configUsage is `lodestone config`'s help.
const configUsage = `usage:
  lodestone config show [serve flags] [PATH]   the configuration serve would run with, and where each value comes from
  lodestone config check [serve flags] [PATH]  check it without starting (exit 1 if it is wrong)
  lodestone config init [PATH]                 write a file of every key and its default (PATH "-": standard output)
PATH is the configuration file, as serve's --config; without it, the default places are searched.
See docs/OPERATIONS.md, "Configuration".
`

// runConfig runs `lodestone config SUBCOMMAND`; it returns the exit code:
// 0, 1 for a configuration that is wrong or cannot be written, 2 for a
// usage mistake.
func runConfig(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	switch args[0] {
	case "show", "check":
		s, code := configOf(args[1:], lookupEnv, stderr)
		if s == nil {
			return code
		}
		if args[0] == "show" {
			if err := s.conf.Show(stdout); err != nil {
				fmt.Fprintln(stderr, "lodestone config:", err)
				return 1
			}
			return 0
		}
		if err := s.cfg.Validate(); err != nil {
			fmt.Fprintln(stderr, "lodestone config:", err)
			return 1
		}
		file := s.conf.File
		if file == "" {
			file = "(no file: flags, environment and defaults)"
		}
		fmt.Fprintf(stdout, "%s: ok\n", file)
		return 0
	case "init":
		return configInit(args[1:], lookupEnv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	fmt.Fprintf(stderr, "lodestone config: unknown subcommand %q\n%s", args[0], configUsage)
	return 2
}

// configOf settles the configuration of args (serve flags, then an
// optional PATH), or prints why it cannot and returns the exit code.
func configOf(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (*settled, int) {
	fs, sf := newServeFlags()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	switch fs.NArg() {
	case 0:
	case 1:
		if *sf.Config != "" {
			fmt.Fprintln(stderr, "lodestone config: give the file as PATH or --config, not both")
			return nil, 2
		}
		*sf.Config = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "lodestone config: unexpected argument %q\n", fs.Arg(1))
		return nil, 2
	}
	s, err := settleParsed(fs, sf, lookupEnv)
	if err != nil {
		fmt.Fprintln(stderr, "lodestone config:", err)
		return nil, 1
	}
	return s, 0
}

// configInit writes a file of every key, commented out, with its default:
// at PATH, or the first default place ($XDG_CONFIG_HOME's or ~/.config's),
// or to stdout for "-". It never overwrites a file.
func configInit(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprintf(stderr, "lodestone config init: unexpected argument %q\n", args[1])
		return 2
	}
	path := config.DefaultPaths(lookupEnv)[0]
	if len(args) == 1 {
		path = args[0]
	}
	fs, _ := newServeFlags()
	keys, err := config.Keys(fs, "config")
	if err != nil {
		fmt.Fprintln(stderr, "lodestone config init:", err)
		return 1
	}
	if path == "-" {
		if err := config.WriteInit(stdout, keys); err != nil {
			fmt.Fprintln(stderr, "lodestone config init:", err)
			return 1
		}
		return 0
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fmt.Fprintln(stderr, "lodestone config init:", err)
		return 1
	}
	// 0600: the file may come to hold the token or a proxy password.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(stderr, "lodestone config init: %s exists: not overwritten (remove it, or give another PATH)\n", path)
		} else {
			fmt.Fprintln(stderr, "lodestone config init:", err)
		}
		return 1
	}
	err = config.WriteInit(f, keys)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		fmt.Fprintln(stderr, "lodestone config init:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return 0
}
