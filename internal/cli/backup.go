package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/backup"
)

const backupUsage = `usage: lodestone backup [flags]

Takes a backup of the running daemon's data dir (GET /backup, admin
scope): its tasks, categories, settings, keys, feeds and webhooks, as of
one moment, while the daemon goes on. Writes it (a tar) to the file given
with -o, or to standard output. The backup is checked against its
manifest as it arrives; with -o, the file appears only once it has
checked out. The API token is left out unless --with-token is given.
Pieces already downloaded are not in the backup: a restored daemon
verifies the data on disk by hashing it. Restore with lodestone restore.
With --json, prints the backup's manifest.
`

func runBackup(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("backup")
	var common commonFlags
	common.register(fs)
	out := fs.String("o", "", "write the backup to this `file` instead of standard output")
	withToken := fs.Bool("with-token", false, "include the daemon's API token (keep such a backup as safe as the token)")
	pos, err := e.parse(fs, args, backupUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("backup takes no arguments, got %q (write to a file with -o)", pos[0])
	}
	t, err := common.locate(e)
	if err != nil {
		return err
	}
	// A client of its own, whose idle connection is closed on return.
	hc := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer hc.CloseIdleConnections()
	body, err := client.Backup(ctx, t.url, t.token, client.BackupOptions{WithToken: *withToken, HTTPClient: hc})
	if err != nil {
		var he *client.HandshakeError
		if errors.As(err, &he) {
			return fmt.Errorf("the daemon at %s refused the backup (HTTP %d): %w", t.url, he.StatusCode, he.Err)
		}
		return fmt.Errorf("cannot reach the daemon at %s (is \"lodestone serve\" running? see --api-addr): %w", t.url, err)
	}
	defer body.Close()

	w := e.stdout
	var f *os.File
	if *out != "" {
		// Beside the target, renamed over it once checked: a failed
		// backup never replaces a good one.
		if f, err = os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*"); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer func() {
			f.Close()
			os.Remove(f.Name()) // gone already after the rename
		}()
		w = f
	}
	cw := &countWriter{w: w}
	tee := io.TeeReader(body, cw)
	m, err := backup.Read(tee, func(string, io.Reader) error { return nil })
	if err == nil {
		_, err = io.Copy(cw, body) // the tar's end, if Read left any
	}
	if err != nil {
		return fmt.Errorf("backup from %s: %w", t.url, err)
	}
	if f != nil {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := os.Rename(f.Name(), *out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if common.json {
		raw, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if f == nil {
			return printJSON(e.stderr, raw) // stdout holds the backup
		}
		return printJSON(e.stdout, raw)
	}
	var names []string
	for _, fl := range m.Files {
		names = append(names, fl.Name)
	}
	where := *out
	if where == "" {
		where = "standard output"
	}
	fmt.Fprintf(e.stderr, "backup of %s (engine %s, taken %s): %d bytes (%s) to %s\n",
		t.url, m.Engine, m.Created.Format("2006-01-02 15:04:05Z07:00"), cw.n, strings.Join(names, ", "), where)
	if len(m.DownloadDirs) > 0 {
		fmt.Fprintf(e.stderr, "the tasks' data is in: %s (not in the backup)\n", strings.Join(m.DownloadDirs, ", "))
	}
	return nil
}

// countWriter counts what it passes on.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
