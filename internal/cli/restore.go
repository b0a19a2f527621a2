package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/backup"
)

const restoreUsage = `usage: lodestone restore --data-dir <dir> <file>

Restores a backup made by lodestone backup into dir, a new data dir: it
must be missing or empty, and no daemon may be running on it. The backup
is checked against its manifest before any file takes its name, so a
damaged or cut-short backup leaves dir empty. Then start the daemon with
--data-dir dir. The tasks' data is not in a backup: it must be at the
paths the backup lists (see docs/OPERATIONS.md, "Moving to another
machine"); the daemon verifies it by hashing. With --json, prints the
backup's manifest.
`

func runRestore(_ context.Context, e *env, args []string) error {
	fs := newFlagSet("restore")
	dir := fs.String("data-dir", "", "the new data `dir` to restore into (required)")
	asJSON := fs.Bool("json", false, "print the backup's manifest as JSON")
	pos, err := e.parse(fs, args, restoreUsage)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return usagef("no backup file given")
	case len(pos) > 1:
		return usagef("restore takes one backup file, got %d arguments", len(pos))
	case strings.TrimSpace(*dir) == "":
		return usagef("no --data-dir given: restore needs the new data dir")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	m, err := backup.Restore(f, *dir)
	if err != nil {
		return err
	}
	if *asJSON {
		raw, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		return printJSON(e.stdout, raw)
	}
	fmt.Fprintf(e.stdout, "restored the backup of %s (Lodestone %s, engine %s) into %s\n",
		m.Created.Format("2006-01-02 15:04:05Z07:00"), m.Version, m.Engine, *dir)
	if len(m.DownloadDirs) > 0 {
		fmt.Fprintf(e.stdout, "the tasks' data must be in: %s\n", strings.Join(m.DownloadDirs, ", "))
	}
	return nil
}
