// Package cli is Lodestone's command-line client: the subcommands of
// `lodestone` other than `serve` (add, ls, info, files, peers, export,
// pause, resume, rm, set, move, category, watchdir, rss, webhook, key,
// queue, reannounce, recheck, trackers, limits, watch, stats, cluster, doctor,
// backup, restore, create, wait, version, completion, help). Each talks
// to a running daemon through the public client package and prints for a
// human, or with --json the daemon's raw result for a program. The same command
// definitions give shell completion (complete.go) and the man page
// (man.go).
//
// Besides client/ and api/ it imports only small leaf packages: version,
// typo, mktorrent (create), doctor (the checks it shares with the
// daemon) and backup (the backup format; restore), never the daemon
// itself. Run (or Main) is the single entry point; it writes only to the
// writers it is given and keeps no state between calls.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/typo"
)

// Exit codes returned by Run.
const (
	// ExitOK: the command did what it was asked.
	ExitOK = 0
	// ExitFailure: the daemon refused or failed the request, could not be
	// reached, or a local file could not be read.
	ExitFailure = 1
	// ExitUsage: the command line is wrong (unknown command or flag,
	// missing or malformed argument, unsupported input).
	ExitUsage = 2
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	// run parses args (the arguments after the command name) and does the
	// work. It returns errHelp after printing its usage for -h.
	run func(ctx context.Context, e *env, args []string) error
}

// commands returns the client subcommands in the order help lists them.
// `serve` is not among them: cmd/lodestone runs it before calling Run.
func commands() []command {
	return []command{
		{"add", "add tasks from magnet URIs, .torrent URLs or .torrent files", runAdd},
		{"ls", "list tasks", runLs},
		{"info", "show every field of one task", runInfo},
		{"files", "list a task's files with their progress and priority", runFiles},
		{"peers", "list a task's connected peers", runPeers},
		{"export", "write a task's .torrent file", runExport},
		{"pause", "pause tasks", runPause},
		{"resume", "resume paused tasks", runResume},
		{"rm", "remove tasks, optionally with their data", runRm},
		{"set", "change a task's labels, file priorities, category or seeding limits", runSet},
		{"move", "move a task's data to another directory", runMove},
		{"category", "list, set or remove categories (named save paths)", runCategory},
		{"watchdir", "list, add or remove watch folders", runWatchdir},
		{"rss", "manage RSS feeds and the rules that add their items", runRSS},
		{"webhook", "manage webhooks: events POSTed to a URL", runWebhook},
		{"key", "create, list or revoke scoped API keys", runKey},
		{"queue", "move a task in the queue order", runQueue},
		{"reannounce", "announce tasks to their trackers now", runReannounce},
		{"recheck", "verify tasks' data on disk again", runRecheck},
		{"trackers", "list, add or remove a task's trackers", runTrackers},
		{"limits", "show or set the daemon's rate limits, queue slots and seeding limits", runLimits},
		{"watch", "follow progress until tasks finish", runWatch},
		{"stats", "show session statistics", runStats},
		{"cluster", "show a cluster's nodes, or drain one (cluster mode)", runCluster},
		{"doctor", "check the daemon's setup and say how to fix what is wrong", runDoctor},
		{"backup", "take a backup of the running daemon's data dir", runBackup},
		{"restore", "restore a backup into a new data dir (daemon stopped)", runRestore},
		{"create", "make a .torrent of a file or directory and print its magnet", runCreate},
		{"wait", "wait until the daemon answers (after starting it in the background)", runWait},
		{"version", "print the version, commit, Go version and engines", runVersion},
		{"completion", "print a shell completion script: bash, zsh or fish", runCompletion},
	}
}

// commandNames lists every command's name, as help lists them, with
// serve and help.
func commandNames() []string {
	names := []string{"serve", "config"} // cmd/lodestone's
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return append(names, "help")
}

// unknownCommand is the message for a command name that is none: with the
// nearest name when it looks like a typo of one.
func unknownCommand(name string) string {
	if s := typo.Nearest(name, commandNames()); s != "" {
		return fmt.Sprintf("unknown command %q; did you mean %q?", name, s)
	}
	return fmt.Sprintf("unknown command %q; run 'lodestone help' for the list", name)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// env is what a command may touch besides the daemon: its output streams
// and the process environment.
type env struct {
	stdout, stderr io.Writer
	// tty reports whether stdout is a terminal (watch redraws in place).
	tty bool
	// getenv reads an environment variable.
	getenv func(string) string
	// serveFlags builds serve's flag set (Options.ServeFlags); may be nil.
	serveFlags func() *flag.FlagSet
	// spec, when set, makes parse record the command's flags and usage
	// there and return errHelp at once (spec.go).
	spec *spec
}

// Run runs the client command named by args[0] with the remaining
// arguments, writing output to stdout and diagnostics to stderr, and
// returns the process exit code (ExitOK, ExitFailure or ExitUsage). ctx
// bounds the whole command; cancelling it (e.g. on SIGINT) stops a watch.
// It is Main with only the output streams set.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return Main(ctx, args, Options{Stdout: stdout, Stderr: stderr})
}

// Options are what Main takes from its caller besides the arguments.
type Options struct {
	// Stdout and Stderr receive output and diagnostics.
	Stdout, Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// ServeFlags builds `lodestone serve`'s flag set without parsing it
	// or acting, so that completion and the man page list serve's flags;
	// nil leaves them out. cmd/lodestone owns serve, so it passes this.
	ServeFlags func() *flag.FlagSet
}

// Main is Run with all of Options.
func Main(ctx context.Context, args []string, opts Options) int {
	stdout, stderr := opts.Stdout, opts.Stderr
	e := &env{stdout: stdout, stderr: stderr, tty: isTerminal(stdout), getenv: opts.Getenv, serveFlags: opts.ServeFlags}
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage())
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		return e.exit(name, runHelp(e, args[1:]))
	case "--version", "-version":
		return e.exit("version", runVersion(ctx, e, args[1:]))
	case "__complete":
		// Hidden: the completion scripts' callback.
		return e.exit(name, runComplete(ctx, e, args[1:]))
	case "__man":
		// Hidden: writes docs/lodestone.1 (man.go).
		return e.exit(name, runMan(e, args[1:]))
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "lodestone: %s\n", unknownCommand(name))
		return ExitUsage
	}
	return e.exit(name, cmd.run(ctx, e, args[1:]))
}

// exit reports err on stderr and returns the exit code for it.
func (e *env) exit(cmd string, err error) int {
	if err == nil || errors.Is(err, errHelp) {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "lodestone %s: %s\nRun 'lodestone %s -h' for usage.\n", cmd, ue.msg, cmd)
		return ExitUsage
	}
	fmt.Fprintln(e.stderr, "lodestone: "+describe(err))
	return ExitFailure
}

// describe renders a failure for the user. A daemon error reads
// "<context>: <message> (<code name>)", e.g.
// "pause 0123abcd: task not found: 0123… (task_not_found)".
func describe(err error) string {
	msg := err.Error()
	var ae *api.Error
	if errors.As(err, &ae) {
		// api.Error's text is "<code>: <message>"; show the message and
		// put the code name last.
		if i := strings.LastIndex(msg, ae.Error()); i >= 0 {
			msg = msg[:i] + ae.Message + msg[i+len(ae.Error()):]
		}
		return fmt.Sprintf("%s (%s)", msg, ae.Code)
	}
	var he *client.HandshakeError
	if errors.As(err, &he) && (he.StatusCode == 401 || he.StatusCode == 403) {
		return fmt.Sprintf("%s (%s)", msg, api.CodeUnauthorized)
	}
	return msg
}

// errHelp is returned by a command that printed its usage because it was
// asked to (-h): Run exits 0.
var errHelp = errors.New("help requested")

// usageError is a wrong command line: Run prints it and exits ExitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// isTerminal reports whether w is a terminal, using only the standard
// library: a character device that is not /dev/null, and TERM is not dumb.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if os.Getenv("TERM") == "dumb" {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
