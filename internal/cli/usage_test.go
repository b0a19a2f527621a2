package cli_test

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
)

// commandNames are the client commands, in the order help lists them.
var commandNames = []string{"add", "ls", "info", "files", "peers", "export", "pause", "resume", "rm", "set", "move", "category", "watchdir", "rss", "webhook", "key", "queue", "reannounce", "recheck", "trackers", "limits", "watch", "stats", "cluster", "doctor", "backup", "restore", "create", "wait", "version", "completion"}

// The help text and every command's -h usage, pinned.
func TestUsageGolden(t *testing.T) {
	t.Parallel()
	var all strings.Builder
	r := run(t, "help").ok(t)
	all.WriteString("$ lodestone help\n" + r.stdout)
	// Every command help lists is pinned below.
	var listed []string
	_, list, _ := strings.Cut(r.stdout, "\ncommands:\n")
	list, _, _ = strings.Cut(list, "\n\n")
	for _, l := range strings.Split(list, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "serve" && f[0] != "config" && f[0] != "help" {
			listed = append(listed, f[0])
		}
	}
	if strings.Join(listed, " ") != strings.Join(commandNames, " ") {
		t.Errorf("help lists %v, the test pins %v", listed, commandNames)
	}
	for _, cmd := range commandNames {
		r := run(t, cmd, "-h").ok(t)
		if r.stderr != "" {
			t.Errorf("%s -h wrote to stderr: %s", cmd, r.stderr)
		}
		if h := run(t, "help", cmd).ok(t); h.stdout != r.stdout {
			t.Errorf("lodestone help %s differs from lodestone %s -h", cmd, cmd)
		}
		all.WriteString("\n$ lodestone " + cmd + " -h\n" + r.stdout)
	}
	golden(t, "usage.golden", all.String())
}

// Command-line mistakes exit 2 before contacting any daemon.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want []string // parts of stderr
	}{
		{"no command", nil, []string{"usage: lodestone <command>"}},
		{"unknown command", []string{"frobnicate"}, []string{`lodestone: unknown command "frobnicate"; run 'lodestone help' for the list`}},
		{"typo of a command", []string{"lss"}, []string{`lodestone: unknown command "lss"; did you mean "ls"?`}},
		{"swapped letters", []string{"sl"}, []string{`did you mean "ls"?`}},
		{"typo of a long command", []string{"recheack"}, []string{`did you mean "recheck"?`}},
		{"help for a typo", []string{"help", "stat"}, []string{`unknown command "stat"; did you mean "stats"?`}},
		{"typo of a flag", []string{"ls", "--lable", "x"}, []string{"flag provided but not defined: -lable; did you mean --label?"}},
		{"help for unknown command", []string{"help", "frobnicate"}, []string{`unknown command "frobnicate"`}},
		{"unknown flag", []string{"ls", "--bogus"}, []string{"flag provided but not defined: -bogus", "usage: lodestone ls"}},
		{"extra argument", []string{"ls", "extra"}, []string{`unexpected argument "extra"`}},
		{"add nothing", []string{"add"}, []string{"nothing to add"}},
		{"add empty label", []string{"add", "--label", "", "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"}, []string{"must not be empty"}},
		{"add bad files", []string{"add", "--files", "0,x", "a.torrent"}, []string{`invalid value "0,x" for flag -files: "x" is not a file index`, "usage: lodestone add"}},
		{"add negative file", []string{"add", "--files", "-1", "a.torrent"}, []string{`"-1" is not a file index`}},
		{"add empty files", []string{"add", "--files", "", "a.torrent"}, []string{"want comma-separated file indices"}},
		{"add files with a gap", []string{"add", "--files", "1,,2", "a.torrent"}, []string{"want comma-separated file indices"}},
		{"files without id", []string{"files"}, []string{"no task id given"}},
		{"files two ids", []string{"files", "ab", "cd"}, []string{"files takes one task id, got 2"}},
		{"export without id", []string{"export"}, []string{"no task id given"}},
		{"peers without id", []string{"peers", "--json"}, []string{"no task id given"}},
		{"peers two ids", []string{"peers", "ab", "cd"}, []string{"peers takes one task id, got 2"}},
		{"move without id", []string{"move"}, []string{"no task id given"}},
		{"move without dir", []string{"move", "abcd"}, []string{"no directory given"}},
		{"move empty dir", []string{"move", "abcd", ""}, []string{"empty directory"}},
		{"move three args", []string{"move", "abcd", "x", "y"}, []string{"got 3 arguments"}},
		{"info without id", []string{"info"}, []string{"no task id given"}},
		{"info two ids", []string{"info", "ab", "cd"}, []string{"one task id"}},
		{"pause without id", []string{"pause"}, []string{"no task id given"}},
		{"recheck without id", []string{"recheck"}, []string{"no task id given"}},
		{"watchdir without action", []string{"watchdir"}, []string{"no action given: ls, add or rm"}},
		{"watchdir add two dirs", []string{"watchdir", "add", "/a", "/b"}, []string{"add takes one directory, got 2 arguments"}},
		{"rss without action", []string{"rss"}, []string{"no action given"}},
		{"rss unknown action", []string{"rss", "fetch"}, []string{`unknown action "fetch"`}},
		{"rss add two urls", []string{"rss", "add", "a", "b"}, []string{"add takes one feed URL, got 2 arguments"}},
		{"webhook without action", []string{"webhook"}, []string{"no action given"}},
		{"webhook event with rm", []string{"webhook", "rm", "x", "--event", "task.added"}, []string{"--event goes with add"}},
		{"key create without scope", []string{"key", "create", "x"}, []string{"create takes a name and a scope"}},
		{"key ls with argument", []string{"key", "ls", "x"}, []string{`ls takes no argument, got "x"`}},
		{"resume without id", []string{"resume"}, []string{"no task id given"}},
		{"rm without id", []string{"rm", "--delete-data"}, []string{"no task id given"}},
		{"set nothing", []string{"set", "abcd"}, []string{"nothing to set: give --label, --skip, --normal, --high, --category, --ratio-limit"}},
		{"set two categories", []string{"set", "abcd", "--category", "a", "--category", "b"}, []string{"a task is in one category"}},
		{"category nothing", []string{"category"}, []string{"no action given: ls, set or rm"}},
		{"category unknown action", []string{"category", "add", "tv"}, []string{`unknown action "add"`}},
		{"category set without name", []string{"category", "set"}, []string{"set takes a name"}},
		{"category rm two", []string{"category", "rm", "a", "b"}, []string{"rm takes one category name"}},
		{"category ls argument", []string{"category", "ls", "x"}, []string{`unexpected argument "x"`}},
		{"category complete path without set", []string{"category", "ls", "--complete-path", "/x"}, []string{"--complete-path goes with set"}},
		{"set two ids", []string{"set", "ab", "cd", "--skip", "1"}, []string{"set takes one task id, got 2"}},
		{"set two priorities", []string{"set", "abcd", "--skip", "1,2", "--high", "3,2"}, []string{"file 2 is given both --skip and --high"}},
		{"set bad index", []string{"set", "abcd", "--high", "one"}, []string{`invalid value "one" for flag -high`}},
		{"set empty label with others", []string{"set", "abcd", "--label", "", "--label", "x"}, []string{"cannot be combined"}},
		{"bad api-addr", []string{"ls", "--api-addr", "nocolon", "--token", "x"}, []string{`--api-addr "nocolon"`}},
		{"stats argument", []string{"stats", "now"}, []string{`unexpected argument "now"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.args...)
			r.fails(t, cli.ExitUsage, tt.want...)
			if r.stdout != "" {
				t.Errorf("stdout not empty: %s", r.stdout)
			}
		})
	}
}

// Failures that are not the command line's fault exit 1.
func TestLocalFailures(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	run(t, "ls", "--api-addr", closed, "--token", "x").fails(t, cli.ExitFailure,
		"lodestone: cannot reach the daemon at ws://"+closed+"/ws", "connection refused")
	// A path that does not exist, or a mistyped URL, says what add takes.
	run(t, "add", "--token", "x", "--api-addr", closed, "/no/such/file.torrent").fails(t, cli.ExitUsage,
		"lodestone add: not a magnet URI, http(s) URL, .torrent file or info-hash: /no/such/file.torrent\n")
	run(t, "add", "--token", "x", "--api-addr", closed, "htps://example.org/a.torrent").fails(t, cli.ExitUsage,
		"not a magnet URI, http(s) URL, .torrent file or info-hash: htps://example.org/a.torrent")
	// 39 hex digits are no info-hash.
	run(t, "add", "--token", "x", "--api-addr", closed, "0123456789abcdef0123456789abcdef0123456").fails(t, cli.ExitUsage,
		"info-hash: 0123456789abcdef0123456789abcdef0123456")
	// A file that exists but cannot be read is a failure, not a usage error.
	run(t, "add", "--token", "x", "--api-addr", closed, t.TempDir()).fails(t, cli.ExitFailure, "lodestone: read torrent file: ")
	if os.Getenv(cli.TokenEnv) == "" {
		run(t, "ls", "--api-addr", closed, "--data-dir", t.TempDir()).fails(t, cli.ExitFailure,
			"lodestone: no API token: no daemon is running with data dir ", "pass --token or set $LODESTONE_TOKEN")
	}
}
