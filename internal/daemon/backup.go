package daemon

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/internal/backup"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// serveBackup answers GET /backup (admin scope) with a backup of the data
// dir (package backup): the store as of one read transaction and, with
// ?with_token=true, the token. The piece-completion database is left out:
// the engine holds it open, and a restored daemon verifies the data on
// disk by hashing it, which needs no peer.
//
// The snapshot goes to an unlinked temporary file in the data dir first,
// so the store's read transaction lasts as long as a local copy, not as
// long as a slow client takes to download it.
func (d *Daemon) serveBackup(w http.ResponseWriter, r *http.Request) {
	withToken := r.URL.Query().Get("with_token") == "true"
	f, err := os.CreateTemp(d.cfg.DataDir, ".backup-*")
	if err != nil {
		d.log.Error("backup: temporary file", "err", err)
		http.Error(w, "backup: "+err.Error(), http.StatusInternalServerError)
		return
	}
	os.Remove(f.Name()) // nothing is left behind, whatever happens next
	defer f.Close()
	var size int64
	created := time.Now().UTC()
	err = d.store.WriteSnapshot(f, func(n int64) error { size = n; return nil })
	if err == nil {
		_, err = f.Seek(0, 0)
	}
	var dirs []string
	if err == nil {
		dirs, err = d.taskDirs()
	}
	if err != nil {
		d.log.Error("backup: snapshot", "err", err)
		http.Error(w, "backup: "+err.Error(), http.StatusInternalServerError)
		return
	}
	core := d.cfg.Engine
	if core == "" {
		core = engine.CoreNative
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="lodestone-backup-%s.tar"`, created.Format("20060102-150405")))
	bw := backup.NewWriter(w, backup.Manifest{
		Version:      version.Get().Version,
		Created:      created,
		Engine:       core,
		DownloadDir:  d.cfg.DownloadDir,
		DownloadDirs: dirs,
	})
	err = bw.Add(backup.StoreName, size, f)
	if err == nil && withToken {
		tok := d.token + "\n"
		err = bw.Add(backup.TokenName, int64(len(tok)), strings.NewReader(tok))
	}
	if err == nil {
		err = bw.Close()
	}
	if err != nil {
		// The status is sent: cut the response off, so the client sees
		// a broken transfer (and the backup has no manifest).
		d.log.Warn("backup: send", "err", err)
		panic(http.ErrAbortHandler)
	}
	d.log.Info("backup sent", "store_bytes", size, "with_token", withToken)
}

// taskDirs returns the distinct download dirs of the tasks, sorted.
func (d *Daemon) taskDirs() ([]string, error) {
	tasks, err := d.store.Tasks()
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, t := range tasks {
		if t.DownloadDir != "" && !slices.Contains(dirs, t.DownloadDir) {
			dirs = append(dirs, t.DownloadDir)
		}
	}
	slices.Sort(dirs)
	return dirs, nil
}
