package cli

import (
	"context"
	"fmt"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
)

const watchdirUsage = `usage: lodestone watchdir [flags] ls
       lodestone watchdir [flags] add <dir> [--category C]
       lodestone watchdir [flags] rm <dir>

Manages watch folders: a .torrent or .magnet file (one magnet URI per line)
dropped into a watched folder is added as a task, then renamed *.added; an
invalid one is renamed *.invalid and an engine.alert says why.

ls lists them (watch.list): folder, category ("-" for none), the files
added and found invalid since the daemon started, and the last error.

add watches a folder (watch.add) and prints "watching <dir>". The folder is
an absolute path, as the daemon sees it, to an existing directory inside
one of its download roots or a --watch-root. --category puts every task it
adds in that category; adding a watched folder again changes its category.

rm stops watching a folder (watch.remove) and prints "stopped watching
<dir>"; its files stay as they are.

With --json, prints the daemon's result.
`

func runWatchdir(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("watchdir")
	var common commonFlags
	common.register(fs)
	category := fs.String("category", "", "with add: the `category` of the tasks the folder adds")
	pos, err := e.parse(fs, args, watchdirUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: ls, add or rm")
	}
	action, rest := pos[0], pos[1:]
	if *category != "" && action != "add" {
		return usagef("--category goes with add")
	}
	switch action {
	case "ls":
		if err := noArgs(action, rest); err != nil {
			return err
		}
		var r api.WatchListResult
		if printed, err := callAction(ctx, e, &common, "watchdir ls", api.MethodWatchList, struct{}{}, &r); err != nil || printed {
			return err
		}
		rows := make([][]string, 0, len(r.Watches))
		for _, w := range r.Watches {
			rows = append(rows, []string{w.Path, w.Category, strconv.Itoa(w.Added), strconv.Itoa(w.Invalid), w.LastError})
		}
		return printTable(e.stdout, []string{"DIR", "CATEGORY", "ADDED", "INVALID", "LAST ERROR"}, rows)
	case "add":
		dir, err := oneArg(action, "directory", rest)
		if err != nil {
			return err
		}
		var w api.Watch
		if printed, err := callAction(ctx, e, &common, "watchdir add", api.MethodWatchAdd, api.WatchAddParams{Path: dir, Category: *category}, &w); err != nil || printed {
			return err
		}
		suffix := ""
		if w.Category != "" {
			suffix = " (category " + sanitize(w.Category) + ")"
		}
		fmt.Fprintf(e.stdout, "watching %s%s\n", sanitize(w.Path), suffix)
	case "rm":
		dir, err := oneArg(action, "directory", rest)
		if err != nil {
			return err
		}
		if printed, err := callAction(ctx, e, &common, "watchdir rm", api.MethodWatchRemove, api.WatchRemoveParams{Path: dir}, nil); err != nil || printed {
			return err
		}
		fmt.Fprintf(e.stdout, "stopped watching %s\n", sanitize(dir))
	default:
		return usagef("unknown action %q: ls, add or rm", action)
	}
	return nil
}
