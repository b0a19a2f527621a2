package cli

import (
	"context"
	"fmt"
	"strings"
)

// mainUsage is what `lodestone help` prints.
func mainUsage() string {
	var b strings.Builder
	b.WriteString(`usage: lodestone <command> [flags] [arguments]

Lodestone is a BitTorrent daemon driven over a WebSocket API. "lodestone serve"
runs it; every other command is a client of a running daemon.

commands:
  serve      run the daemon (lodestone serve -h for its flags)
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString(`  help       show this help, or a command's: lodestone help <command>

Every client command takes:
  --api-addr host:port  the daemon's API address, or a ws:// URL (default: the
                        running daemon's, else 127.0.0.1:6810)
  --token token         API token (default: $LODESTONE_TOKEN, else the running
                        daemon's token file)
  --data-dir dir        the daemon's data dir (default: $XDG_DATA_HOME/lodestone,
                        else ~/.local/share/lodestone)
  --json                print the daemon's result as JSON instead of text

A running daemon writes where it listens and where its token is to
daemon.json in its data dir, and to $XDG_RUNTIME_DIR/lodestone/: the
commands find it there. A daemon given its token as a value (--token,
LODESTONE_TOKEN) does not write the token anywhere: set LODESTONE_TOKEN
for the commands too.

A task is named by its id (the info-hash, 40 hex digits) or any unique prefix
of it, such as the 8 characters "lodestone ls" shows. Flags may come before or
after arguments.

Exit status: 0 success; 1 the daemon refused or failed the request, or could
not be reached; 2 usage error.
`)
	return b.String()
}

// runHelp prints the main usage, or with an argument that command's usage.
func runHelp(e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, mainUsage())
		return nil
	}
	if args[0] == "serve" {
		fmt.Fprintln(e.stdout, "usage: lodestone serve [flags]\n\nRun \"lodestone serve -h\" for the daemon's flags.")
		return nil
	}
	cmd, ok := lookup(args[0])
	if !ok {
		return usagef("%s", unknownCommand(args[0]))
	}
	// -h makes the command print its usage and do nothing else.
	return cmd.run(context.Background(), e, []string{"-h"})
}
