package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/client"
)

// DefaultAPIAddr is the daemon's default API address (as in
// internal/daemon, which this package does not import).
const DefaultAPIAddr = "127.0.0.1:6810"

// TokenEnv is the environment variable holding the API token.
const TokenEnv = "LODESTONE_TOKEN"

// tokenFile is the name of the daemon's token file in its data dir.
const tokenFile = "token"

// dialTimeout bounds connecting to the daemon.
const dialTimeout = 10 * time.Second

// commonFlags are the flags every client command takes.
type commonFlags struct {
	apiAddr string
	token   string
	dataDir string
	json    bool
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.apiAddr, "api-addr", "", "the daemon's API `address`: host:port, or a full ws:// URL (default: the running daemon's, else "+DefaultAPIAddr+")")
	fs.StringVar(&c.token, "token", "", "API `token` (default: $"+TokenEnv+", else the running daemon's token file)")
	fs.StringVar(&c.dataDir, "data-dir", "", "the daemon's data `dir`, where it says how to reach it (default: $XDG_DATA_HOME/lodestone, else ~/.local/share/lodestone)")
	fs.BoolVar(&c.json, "json", false, "print the daemon's result as JSON instead of text")
}

// refusedError is a handshake the daemon refused. Its text explains the
// likely cause instead of repeating the WebSocket library's.
type refusedError struct {
	url    string
	source string // where the token came from
	err    *client.HandshakeError
}

func (e *refusedError) Error() string {
	switch e.err.StatusCode {
	case 401:
		return fmt.Sprintf("the daemon at %s refused the token from %s (HTTP 401): pass the daemon's token with --token or $%s, or its data dir with --data-dir", e.url, e.source, TokenEnv)
	case 403:
		return fmt.Sprintf("the daemon at %s refused the connection (HTTP 403): its Host or Origin check failed", e.url)
	}
	return fmt.Sprintf("the daemon at %s refused the connection (HTTP %d)", e.url, e.err.StatusCode)
}

func (e *refusedError) Unwrap() error { return e.err }

// stringList is a repeatable string flag. set records that it was given at
// all, so that `--label ”` can be told apart from no --label.
type stringList struct {
	values []string
	set    bool
}

func (s *stringList) String() string { return strings.Join(s.values, ",") }
func (s *stringList) Set(v string) error {
	s.values = append(s.values, v)
	s.set = true
	return nil
}

// indexList is a repeatable flag of comma-separated file indices (as
// task.files numbers them), e.g. "0,2,5". Each value is appended.
type indexList struct {
	values []int
}

func (l *indexList) String() string {
	s := make([]string, len(l.values))
	for i, v := range l.values {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

// Set parses one flag value; the flag package reports its error as an
// invalid value of the flag.
func (l *indexList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return errors.New("want comma-separated file indices, such as 0,2,5")
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a file index (a number from 0, as in lodestone files)", f)
		}
		l.values = append(l.values, n)
	}
	return nil
}

// newFlagSet makes a flag set for cmd whose -h prints usage (the text
// before the flag list) and the flags.
func newFlagSet(cmd string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() {} // parse prints usage itself, to the right stream
	return fs
}

// parse parses args, allowing flags before, between and after positional
// arguments ("--" ends the flags). -h prints usage to stdout and returns
// errHelp; a bad flag prints the flag package's message and the usage to
// stderr and returns a usage error.
func (e *env) parse(fs *flag.FlagSet, args []string, usage string) ([]string, error) {
	if e.spec != nil {
		// Describing the command (spec.go): hand over its flags and
		// usage, and stop before it acts.
		e.spec.flags, e.spec.usage = fs, usage
		return nil, errHelp
	}
	var msg strings.Builder
	fs.SetOutput(&msg)
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, fs, usage)
			return nil, errHelp
		}
		if err != nil {
			printUsage(e.stderr, fs, usage)
			return nil, usagef("%s%s", strings.TrimSpace(firstLine(msg.String(), err.Error())), flagHint(fs, err))
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagHint is "; did you mean --x?" for an undefined flag that looks like a
// typo of one of fs's, else "".
func flagHint(fs *flag.FlagSet, err error) string {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return ""
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest(strings.TrimLeft(name, "-"), names); s != "" {
		return fmt.Sprintf("; did you mean --%s?", s)
	}
	return ""
}

func firstLine(s, fallback string) string {
	if s = strings.TrimSpace(s); s == "" {
		return fallback
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// printUsage writes usage and the flag list.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprint(w, usage)
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// printJSON writes one raw JSON value and a newline.
func printJSON(w io.Writer, raw json.RawMessage) error {
	if _, err := fmt.Fprintf(w, "%s\n", raw); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
