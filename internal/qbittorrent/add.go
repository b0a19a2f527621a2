package qbittorrent

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// maxAddItems caps the URLs and files of one torrents/add.
const maxAddItems = 1000

// add is torrents/add: urls (magnet URIs, http(s) URLs of .torrent
// files and bare info-hashes, one a line) and .torrent files (multipart,
// any field name, as qBittorrent takes every uploaded file), with the
// options that apply to all of them. Each is added as Lodestone's
// task.add adds it, durably, before the answer: "Ok." when at least one
// was added, "Fails." when none was (a torrent Lodestone already has is
// not added, as in qBittorrent). A file that is not a torrent is
// answered 415, as qBittorrent does, and the files after it are not
// added.
func (h *Handler) add(w http.ResponseWriter, r *http.Request) {
	if !formOK(w, r) {
		return
	}
	base, after, err := h.addOptions(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	var urls []string
	for _, u := range strings.Split(r.FormValue("urls"), "\n") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	var files []*multipart.FileHeader
	if r.MultipartForm != nil {
		for _, fs := range r.MultipartForm.File {
			files = append(files, fs...)
		}
	}
	if len(urls)+len(files) > maxAddItems {
		writeStatus(w, http.StatusBadRequest, fmt.Sprintf("at most %d torrents can be added at once", maxAddItems))
		return
	}
	if err := h.ensureCategory(base.Category); err != nil {
		// qBittorrent adds the torrent without a category it could not
		// create.
		h.log.Info("qbittorrent add: category not created", "category", base.Category, "err", err)
		base.Category = ""
	}
	existing := map[string]bool{}
	for _, t := range h.svc.List(service.ListFilter{}) {
		existing[t.TaskID] = true
	}
	added := 0
	for _, u := range urls {
		p := base
		switch {
		case hasPrefixFold(u, "magnet:"):
			p.Type, p.Data = api.TaskTypeMagnet, u
		case hasPrefixFold(u, "http://"), hasPrefixFold(u, "https://"):
			p.Type, p.Data = api.TaskTypeURL, u
		case isInfoHash(u):
			p.Type, p.Data = api.TaskTypeMagnet, "magnet:?xt=urn:btih:"+u
		default:
			// qBittorrent would read a file on its own disk; a client of
			// the API must not make the daemon read its files.
			h.log.Info("qbittorrent add: not a magnet URI, http(s) URL or info-hash", "url", u)
			continue
		}
		if ok, _ := h.addItem(r, p, after, existing); ok {
			added++
		}
	}
	for _, fh := range files {
		data, err := readFile(fh)
		if err != nil {
			h.fail(w, err)
			return
		}
		p := base
		p.Type, p.Data = api.TaskTypeTorrent, base64.StdEncoding.EncodeToString(data)
		ok, bad := h.addItem(r, p, after, existing)
		if bad {
			writeStatus(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Error: '%s' is not a valid torrent file.", fh.Filename))
			return
		}
		if ok {
			added++
		}
	}
	if added == 0 {
		writeText(w, "Fails.")
		return
	}
	writeText(w, "Ok.")
}

// addSettings are what torrents/add sets on a task once it is added.
type addSettings struct {
	set api.TaskSetParams // rate limits; nothing when empty
	top bool              // move to the top of the queue
}

func (a addSettings) anySet() bool {
	return a.set.DownloadRateLimit != nil || a.set.UploadRateLimit != nil
}

// addOptions reads torrents/add's options into the params every item is
// added with, and what is set on each task after.
func (h *Handler) addOptions(r *http.Request) (api.TaskAddParams, addSettings, error) {
	var p api.TaskAddParams
	var a addSettings
	p.DownloadDir = strings.TrimSpace(r.FormValue("savepath"))
	p.Category = r.FormValue("category")
	p.Labels = parseTags(r.FormValue("tags"))
	// "stopped" is qBittorrent 5.0's name, "paused" 4.x's.
	for _, name := range []string{"stopped", "paused"} {
		if v, ok := parseBool(r.FormValue(name)); ok && v {
			p.Paused = true
		}
	}
	p.Sequential, _ = parseBool(r.FormValue("sequentialDownload"))
	a.top, _ = parseBool(r.FormValue("addToTopOfQueue"))
	var err error
	if p.SeedRatioLimit, p.SeedTimeLimit, p.SeedIdleLimit, err = shareLimitParams(r); err != nil {
		return p, a, err
	}
	for _, l := range []struct {
		name string
		dst  **int64
	}{{"dlLimit", &a.set.DownloadRateLimit}, {"upLimit", &a.set.UploadRateLimit}} {
		v := r.FormValue(l.name)
		if v == "" {
			continue
		}
		n, ok := parseInt(v)
		if !ok {
			return p, a, fmt.Errorf("%s must be an integer", l.name)
		}
		if n > 0 {
			*l.dst = &n
		}
	}
	return p, a, nil
}

// addItem adds one item and applies what is set after, reporting whether
// a task was added (not one that was there: existing holds the tasks
// there before, and gets the new one) and whether the item was a
// .torrent that is not one (bad). Other failures are logged: the answer
// only says whether any item was added.
func (h *Handler) addItem(r *http.Request, p api.TaskAddParams, after addSettings, existing map[string]bool) (ok, bad bool) {
	res, err := h.svc.Add(r.Context(), p)
	if err != nil {
		h.log.Info("qbittorrent add: refused", "type", p.Type, "err", err)
		return false, p.Type == api.TaskTypeTorrent && errors.Is(err, service.ErrBadTorrent)
	}
	if existing[res.TaskID] {
		return false, false
	}
	existing[res.TaskID] = true
	if after.anySet() {
		if _, err := h.svc.Set(res.TaskID, after.set); err != nil {
			h.log.Warn("qbittorrent add: options not applied", "task_id", res.TaskID, "err", err)
		}
	}
	if after.top {
		if _, err := h.svc.QueueMove(res.TaskID, api.QueueTop); err != nil {
			h.log.Warn("qbittorrent add: not moved to the top of the queue", "task_id", res.TaskID, "err", err)
		}
	}
	return true, false
}

// readFile reads an uploaded file.
func readFile(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isInfoHash reports whether s is a bare v1 info-hash: 40 hex digits or
// 32 base32 characters, which qBittorrent takes as a magnet.
func isInfoHash(s string) bool {
	switch len(s) {
	case 40:
		_, err := hex.DecodeString(s)
		return err == nil
	case 32:
		return strings.IndexFunc(strings.ToUpper(s), func(c rune) bool {
			return !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7')
		}) < 0
	}
	return false
}
