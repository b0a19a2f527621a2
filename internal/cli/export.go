package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"github.com/lodestone-bt/lodestone/api"
)

const exportUsage = `usage: lodestone export [flags] <task-id>

Writes the task's .torrent file (task.export) to standard output, or to
the file given with -o. Its info dictionary is the task's, byte for byte,
so any client adding it finds the same info-hash. A magnet task can be
exported once its metadata has arrived; its file names the task's
trackers. With --json, prints the task.export result (the file in
base64) instead.
`

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("export")
	var common commonFlags
	common.register(fs)
	out := fs.String("o", "", "write the .torrent to this `file` instead of standard output")
	pos, err := e.parse(fs, args, exportUsage)
	if err != nil {
		return err
	}
	if err := oneID("export", pos); err != nil {
		return err
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return err
	}
	id := tasks[0].TaskID
	mi, err := c.Export(ctx, id)
	if err != nil {
		return fmt.Errorf("export %s: %w", id, err)
	}
	if common.json {
		raw, err := json.Marshal(api.TaskExportResult{Torrent: base64.StdEncoding.EncodeToString(mi)})
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return printJSON(e.stdout, raw)
	}
	if *out != "" {
		// Written whole or not at all is not promised: a failed write is
		// reported, and the partial file is left for the user to see.
		if err := os.WriteFile(*out, mi, 0o644); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	if _, err := e.stdout.Write(mi); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
