package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/lodestone-bt/lodestone/api"
)

const categoryUsage = `usage: lodestone category [flags] ls
       lodestone category [flags] set <name> [<save-path>]
       lodestone category [flags] rm <name>

Manages categories: named save paths for tasks, as qBittorrent has.

ls lists them (category.list), one per line: name, save path (or "-" for
the daemon's default download dir) and complete path ("-" for none).

set creates the category, or replaces the one of that name (category.set),
and prints "category <name> <save-path>". The save path is absolute, or
relative to the daemon's download dir, and must lie inside one of the
daemon's download roots; without it, tasks of the category go to the
daemon's default download dir. --complete-path names where a task of the
category moves its data once it finishes. "/" in a name separates
subcategories, e.g. films/hd. A task is put in a category with "lodestone
add --category" or "lodestone set --category".

rm removes the category (category.remove) and prints "removed category
<name>": its tasks are in no category anymore and their data stays where it
is.

With --json, prints the daemon's result.
`

func runCategory(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("category")
	var common commonFlags
	common.register(fs)
	completePath := fs.String("complete-path", "", "with set: move a finished task's data to this `dir`")
	pos, err := e.parse(fs, args, categoryUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("no action given: ls, set or rm")
	}
	action, rest := pos[0], pos[1:]
	var method string
	var params any
	switch action {
	case "ls":
		if len(rest) > 0 {
			return usagef("unexpected argument %q", rest[0])
		}
		method, params = api.MethodCategoryList, struct{}{}
	case "set":
		if len(rest) == 0 || len(rest) > 2 {
			return usagef("set takes a name and, optionally, a save path")
		}
		cat := api.Category{Name: rest[0], CompletePath: *completePath}
		if len(rest) == 2 {
			cat.SavePath = rest[1]
		}
		method, params = api.MethodCategorySet, cat
	case "rm":
		if len(rest) != 1 {
			return usagef("rm takes one category name")
		}
		method, params = api.MethodCategoryRemove, api.CategoryRemoveParams{Name: rest[0]}
	default:
		return usagef("unknown action %q: ls, set or rm", action)
	}
	if *completePath != "" && action != "set" {
		return usagef("--complete-path goes with set")
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, method, params, &raw); err != nil {
		return fmt.Errorf("category %s: %w", action, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	switch action {
	case "set":
		var cat api.Category
		if err := json.Unmarshal(raw, &cat); err != nil {
			return fmt.Errorf("category set: decode result: %w", err)
		}
		fmt.Fprintf(e.stdout, "category %s %s\n", sanitize(cat.Name), orDash(cat.SavePath))
	case "rm":
		fmt.Fprintf(e.stdout, "removed category %s\n", sanitize(strings.TrimSpace(rest[0])))
	default:
		var r api.CategoryListResult
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("category ls: decode result: %w", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSAVE PATH\tCOMPLETE PATH")
		for _, cat := range r.Categories {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", sanitize(cat.Name), orDash(cat.SavePath), orDash(cat.CompletePath))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}
