package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/lodestone-bt/lodestone/api"
)

const filesUsage = `usage: lodestone files [flags] <task-id>

Lists the task's files (task.files) as a table: IDX (the file's index, as
add --files and set --skip/--normal/--high take it), SIZE, DONE (the share
of the file in verified pieces), PRIORITY (skip, normal or high) and PATH
(relative to the task's download dir). A magnet task has no files until its
metadata arrives: the table is then empty. With --json, prints the
task.files result.
`

func runFiles(ctx context.Context, e *env, args []string) error {
	raw, common, err := callOnTask(ctx, e, "files", filesUsage, api.MethodTaskFiles, "files of", args)
	if err != nil {
		return err
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var res api.TaskFilesResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("files: decode result: %w", err)
	}
	return writeFilesTable(e.stdout, res.Files)
}

// writeFilesTable writes files as an aligned table, header first.
func writeFilesTable(w io.Writer, files []api.TaskFile) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "IDX\tSIZE\tDONE\tPRIORITY\tPATH")
	for _, f := range files {
		done := formatPercent(f.Completed, f.Size)
		if f.Size == 0 {
			done = formatPercent(1, 1) // an empty file has nothing to fetch
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", f.Index, formatBytes(f.Size), done, sanitize(f.Priority), sanitize(f.Path))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
