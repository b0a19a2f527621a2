package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The helpers of the commands made of actions (watchdir, rss, webhook,
// key): one call per action, its result printed as it came with --json,
// else as a table or a line.

// callAction dials the daemon, calls method with params and, unless
// --json printed the raw result, decodes it into out (nil: ignored). It
// reports whether it printed; errors name what was asked ("rss add").
func callAction(ctx context.Context, e *env, common *commonFlags, what, method string, params, out any) (printed bool, err error) {
	c, err := common.dial(ctx, e)
	if err != nil {
		return false, err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, method, params, &raw); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if common.json {
		return true, printJSON(e.stdout, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return false, fmt.Errorf("%s: decode result: %w", what, err)
		}
	}
	return false, nil
}

// printTable writes an aligned table: the header, then one line per row.
// Cells are sanitized; an empty cell shows "-".
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = orDash(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// formatTime renders unix seconds as local time to the second, "-" for 0
// (never).
func formatTime(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).Format("2006-01-02 15:04:05")
}

// noArgs refuses arguments after an action that takes none.
func noArgs(action string, rest []string) error {
	if len(rest) > 0 {
		return usagef("%s takes no argument, got %q", action, rest[0])
	}
	return nil
}

// oneArg returns the one argument an action takes.
func oneArg(action, what string, rest []string) (string, error) {
	if len(rest) != 1 {
		return "", usagef("%s takes one %s, got %d arguments", action, what, len(rest))
	}
	return rest[0], nil
}

// flagsFor refuses the command's own flags given with an action they do
// not go with: own maps each flag's name to the actions it goes with
// (flags not in own, such as the common ones, go with every action).
func flagsFor(fs *flag.FlagSet, action string, own map[string][]string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		actions, ok := own[f.Name]
		if err == nil && ok && !slices.Contains(actions, action) {
			err = usagef("--%s goes with %s", f.Name, strings.Join(actions, " or "))
		}
	})
	return err
}
