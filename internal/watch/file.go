package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// maxFileSize bounds a file read: a .torrent's own bound (task.add's),
// which no sane .magnet file comes near either.
const maxFileSize = engine.MaxTorrentSize

// errChanged: the file changed while it was read.
var errChanged = errors.New("changed while read")

// item is one thing a file asks to add: its only .torrent, or one magnet
// line.
type item struct {
	params api.TaskAddParams
	where  string // "line N" for a magnet line
	bad    string // why it cannot be added, "" when it can
}

// take handles the stable file path: reads it whole, parses it, adds its
// items and renames it. It returns the file's state for the next scan,
// and false when the file is gone (renamed).
func (w *Watcher) take(ctx context.Context, p *pass, path, kind string, st fileState, now time.Time) (fileState, bool) {
	raw, err := readWhole(path, st)
	if errors.Is(err, errChanged) {
		return fileState{size: -1}, true // a changed file: looked at anew
	}
	if err != nil {
		w.fileProblem(p, &st, fmt.Sprintf("watch folder: cannot read %s: %v", path, err))
		return st, true
	}
	items := parse(kind, raw, p.category)
	var bad []string
	valid := 0
	for _, it := range items {
		if it.bad != "" {
			bad = append(bad, strings.TrimPrefix(it.where+": ", ": ")+it.bad)
		} else {
			valid++
		}
	}
	if len(bad) > 0 && now.Sub(st.since) < w.opts.InvalidAfter {
		// Perhaps still being written, by a writer that pauses longer
		// than a scan: retried when it changes, taken as it is later.
		st.failed = bad[0]
		return st, true
	}
	sum := sha256.Sum256(raw)
	rec := store.WatchAdd{Path: path, Size: st.size, ModTime: st.mod, SHA256: hex.EncodeToString(sum[:])}
	old, err := w.opts.Store.WatchAdd(path)
	switch {
	case err == nil && old.Size == rec.Size && old.ModTime.Equal(rec.ModTime) && old.SHA256 == rec.SHA256:
		// Begun before a restart (or a failed rename): the items done
		// are not added again.
		rec.Done = min(old.Done, len(items))
	case err != nil && !errors.Is(err, store.ErrNotFound):
		w.fileProblem(p, &st, fmt.Sprintf("watch folder: %s: %v", path, err))
		return st, true
	default:
		// Recorded before the first add: a crash from here on cannot
		// make a restart add it again.
		if err := w.opts.Store.PutWatchAdd(rec); err != nil {
			w.fileProblem(p, &st, fmt.Sprintf("watch folder: %s: %v", path, err))
			return st, true
		}
	}
	for i := rec.Done; i < len(items); i++ {
		it := &items[i]
		if it.bad == "" {
			res, err := w.opts.Service.Add(ctx, it.params)
			if ctx.Err() != nil {
				// Shutting down: a restart resumes at this item.
				return st, true
			}
			if err != nil {
				it.bad = reason(err)
				valid--
				bad = append(bad, strings.TrimPrefix(it.where+": ", ": ")+it.bad)
			} else {
				w.log.Info("task added from watch folder", "file", path, "task_id", res.TaskID)
			}
		}
		if it.bad != "" && valid > 0 && kind == kindMagnet {
			// The file is added for its other lines: each bad line
			// is told apart. (A file with nothing to add gets one alert
			// below.)
			w.alert(fmt.Sprintf("watch folder: %s, %s: %s (the file's other lines are added)", path, it.where, it.bad))
		}
		rec.Done = i + 1
		if err := w.opts.Store.PutWatchAdd(rec); err != nil {
			w.fileProblem(p, &st, fmt.Sprintf("watch folder: %s: %v", path, err))
			return st, true
		}
	}
	suffix := SuffixAdded
	if valid == 0 {
		suffix = SuffixInvalid
	}
	to, err := renameFree(path, suffix)
	if err != nil {
		// The record stays: the next scan renames without adding.
		w.fileProblem(p, &st, fmt.Sprintf("watch folder: cannot rename %s: %v", path, err))
		return st, true
	}
	if err := w.opts.Store.DeleteWatchAdd(path); err != nil {
		// Harmless: the next start drops it, the file being gone.
		w.log.Error("delete watch record", "path", path, "err", err)
	}
	w.mu.Lock()
	if suffix == SuffixAdded {
		p.f.added++
	} else {
		p.f.invalid++
	}
	w.mu.Unlock()
	if suffix == SuffixInvalid {
		why := "nothing to add"
		if len(bad) > 0 {
			why = strings.Join(bad, "; ")
		}
		w.alert(fmt.Sprintf("watch folder: %s is invalid (%s); renamed to %s", path, truncate(why, 1000), to))
	}
	return fileState{}, false
}

// readWhole reads the file path, which the scans saw at st, and returns
// its content; errChanged when it is no longer what was seen.
func readWhole(path string, st fileState) ([]byte, error) {
	if st.size > maxFileSize {
		// Not read: parse says why.
		return nil, nil
	}
	fh, err := openFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errChanged
		}
		return nil, err
	}
	defer fh.Close()
	same := func() bool {
		fi, err := fh.Stat()
		return err == nil && fi.Mode().IsRegular() && fi.Size() == st.size && fi.ModTime().Equal(st.mod)
	}
	if !same() {
		return nil, errChanged
	}
	raw, err := io.ReadAll(io.LimitReader(fh, st.size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != st.size || !same() {
		return nil, errChanged
	}
	return raw, nil
}

// parse returns what the file raw of kind asks to add, each with the
// category. A file larger than maxFileSize (raw nil) is one bad item.
func parse(kind string, raw []byte, category string) []item {
	if raw == nil {
		return []item{{bad: fmt.Sprintf("larger than %d bytes", maxFileSize)}}
	}
	if kind == kindTorrent {
		if _, err := engine.ParseTorrent(raw); err != nil {
			return []item{{bad: err.Error()}}
		}
		return []item{{params: api.TaskAddParams{
			Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(raw), Category: category,
		}}}
	}
	raw = bytes.TrimPrefix(raw, []byte("\ufeff")) // a BOM some editors write
	var items []item
	for i, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		it := item{where: fmt.Sprintf("line %d", i+1)}
		if _, err := engine.ParseMagnet(line); err != nil {
			it.bad = err.Error()
		} else {
			it.params = api.TaskAddParams{Type: api.TaskTypeMagnet, Data: line, Category: category}
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return []item{{bad: "no magnet URI in it"}}
	}
	return items
}

// renameFree renames path to path+suffix, or to path+suffix+".N" with the
// first N free, and returns the new name. It never replaces a file.
func renameFree(path, suffix string) (string, error) {
	for n := 0; n < 1000; n++ {
		to := path + suffix
		if n > 0 {
			to = fmt.Sprintf("%s%s.%d", path, suffix, n)
		}
		if _, err := os.Lstat(to); !errors.Is(err, os.ErrNotExist) {
			if err != nil {
				return "", err
			}
			continue
		}
		if err := os.Rename(path, to); err != nil {
			return "", err
		}
		return to, nil
	}
	return "", fmt.Errorf("%s%s.1 to .999 all exist", path, suffix)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
