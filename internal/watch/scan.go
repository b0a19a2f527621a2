package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// Scanning.
//
// The folders are polled, not watched with inotify (fsnotify): polling
// sees files written over NFS or SMB, or by another container through a
// bind mount, which inotify does not report; the stability rule needs a
// second look at every file some time later anyway; and a folder that
// disappears and comes back needs no re-arming. Its cost is one ReadDir of
// each watched folder per interval.

// Suffixes a handled file is renamed with.
const (
	SuffixAdded   = ".added"
	SuffixInvalid = ".invalid"
)

// fileState is what the scans saw of one file.
type fileState struct {
	size int64
	mod  time.Time
	// since is when the scans first saw this size and mtime.
	since time.Time
	// failed is why the file, read at this state, did not parse: it is
	// read again when it changes, or taken as invalid once it has been
	// unchanged for InvalidAfter.
	failed string
	// reported is the problem last alerted for this file (a read or
	// rename error), so that each is alerted once.
	reported string
}

// Run scans the watched folders every interval (and at once after a
// watch.add) until ctx ends. It returns nil then.
func (w *Watcher) Run(ctx context.Context) error {
	w.dropStaleRecords()
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		w.scan(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
		}
	}
}

// dropStaleRecords deletes the records of files that are gone: the daemon
// stopped after renaming a file and before deleting its record.
func (w *Watcher) dropStaleRecords() {
	recs, err := w.opts.Store.WatchAdds()
	if err != nil {
		w.log.Error("read watch records", "err", err)
		return
	}
	for _, r := range recs {
		if _, err := os.Lstat(r.Path); errors.Is(err, os.ErrNotExist) {
			if err := w.opts.Store.DeleteWatchAdd(r.Path); err != nil {
				w.log.Error("delete watch record", "path", r.Path, "err", err)
			}
		}
	}
}

// scan scans every watched folder once.
func (w *Watcher) scan(ctx context.Context) {
	w.mu.Lock()
	folders := make([]*folder, 0, len(w.folders))
	for _, f := range w.folders {
		folders = append(folders, f)
	}
	w.mu.Unlock()
	for _, f := range folders {
		if ctx.Err() != nil {
			return
		}
		w.scanFolder(ctx, f)
	}
}

// pass is one scan of one folder.
type pass struct {
	f        *folder
	path     string // the folder as watched
	category string
	problem  string // the last problem of this scan, "" none
}

// scanFolder scans f once: it notes every candidate file's state and
// takes those that have stayed the same since the last scan.
func (w *Watcher) scanFolder(ctx context.Context, f *folder) {
	w.mu.Lock()
	p := &pass{f: f, path: f.rec.Path, category: f.rec.Category}
	before := f.wireLocked()
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		f.lastError = p.problem
		after := f.wireLocked()
		_, watched := w.folders[p.path]
		w.mu.Unlock()
		if watched && after != before {
			// Its counts or last_error: the UI shows them.
			w.changed(api.WatchChangedData{Path: p.path})
		}
	}()
	// Checked at every scan: a symlink on the way may have been changed
	// to lead out of the roots since watch.add.
	dir, err := w.inRoots(p.path)
	if err == nil {
		var entries []os.DirEntry
		if entries, err = os.ReadDir(dir); err == nil {
			if f.problem != "" {
				w.log.Info("watched folder is back", "path", p.path)
				f.problem = ""
			}
			w.scanEntries(ctx, p, dir, entries)
			return
		}
	}
	msg := fmt.Sprintf("watch folder %s: %v; it stays watched and is scanned again when it is back", p.path, reason(err))
	p.problem = msg
	if f.problem != msg {
		// Once, not at every scan.
		f.problem = msg
		w.alert(msg)
	}
	f.files = map[string]fileState{}
}

// scanEntries notes the state of each candidate file of dir and takes the
// stable ones.
func (w *Watcher) scanEntries(ctx context.Context, p *pass, dir string, entries []os.DirEntry) {
	now := time.Now()
	seen := make(map[string]fileState, len(p.f.files))
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		name := e.Name()
		kind := kindOf(name)
		// Symlinks are not followed: a link could make the daemon read
		// (and rename) files outside the folder.
		if kind == "" || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		st, ok := p.f.files[name]
		if !ok || st.size != info.Size() || !st.mod.Equal(info.ModTime()) {
			// New or changed: looked at again at the next scan.
			seen[name] = fileState{size: info.Size(), mod: info.ModTime(), since: now}
			continue
		}
		// Half an interval at least between the two looks, in case a
		// watch.add made this scan follow the last one closely.
		if st.size == 0 || now.Sub(st.since) < w.opts.Interval/2 ||
			st.failed != "" && now.Sub(st.since) < w.opts.InvalidAfter {
			seen[name] = st
			continue
		}
		if st, keep := w.take(ctx, p, filepath.Join(dir, name), kind, st, now); keep {
			seen[name] = st
		}
	}
	p.f.files = seen
}

// Kinds of files taken.
const (
	kindTorrent = "torrent"
	kindMagnet  = "magnet"
)

// kindOf returns the kind of file name is, "" for a file to leave alone:
// hidden files and the temporary names of files being written.
func kindOf(name string) string {
	lower := strings.ToLower(name)
	if strings.HasPrefix(name, ".") {
		return ""
	}
	for _, tmp := range []string{".part", ".tmp", ".crdownload"} {
		if strings.HasSuffix(lower, tmp) {
			return ""
		}
	}
	switch filepath.Ext(lower) {
	case ".torrent":
		return kindTorrent
	case ".magnet":
		return kindMagnet
	}
	return ""
}

// alert publishes a warning engine.alert (not about a task).
func (w *Watcher) alert(msg string) {
	w.log.Warn("watch folder alert", "message", msg)
	if _, err := w.opts.Events.Publish(api.EventEngineAlert, api.EngineAlertData{Level: api.LevelWarning, Message: msg}); err != nil {
		w.log.Error("publish watch alert", "err", err)
	}
}

// fileProblem records msg as p's problem and alerts it, unless it is the
// one already alerted for this file.
func (w *Watcher) fileProblem(p *pass, st *fileState, msg string) {
	p.problem = msg
	if st.reported != msg {
		st.reported = msg
		w.alert(msg)
	}
}

// reason returns err's message, or that of an *api.Error without its code
// name.
func reason(err error) string {
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}
