package qbittorrent

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// actionRoutes are the torrents/* endpoints that change something:
// adding, removing, starting and stopping, locations, limits,
// categories and tags. Their parameters, answers and status codes are
// qBittorrent 5.0's (src/webui/api/torrentscontroller.cpp); where
// Lodestone differs, docs/COMPAT.md says how.
var actionRoutes = map[string]route{
	"torrents/add":    {fn: (*Handler).add, change: true},
	"torrents/delete": {fn: (*Handler).deleteTorrents, change: true},
	// stop/start are qBittorrent 5.0's names (WebAPI 2.11); pause/resume
	// are 4.x's, which older clients still send.
	"torrents/stop":                     {fn: (*Handler).stop, change: true},
	"torrents/pause":                    {fn: (*Handler).stop, change: true},
	"torrents/start":                    {fn: (*Handler).start, change: true},
	"torrents/resume":                   {fn: (*Handler).start, change: true},
	"torrents/recheck":                  {fn: (*Handler).recheck, change: true},
	"torrents/setLocation":              {fn: (*Handler).setLocation, change: true},
	"torrents/setForceStart":            {fn: (*Handler).setForceStart, change: true},
	"torrents/filePrio":                 {fn: (*Handler).filePrio, change: true},
	"torrents/addTrackers":              {fn: (*Handler).addTrackers, change: true},
	"torrents/editTracker":              {fn: (*Handler).editTracker, change: true},
	"torrents/removeTrackers":           {fn: (*Handler).removeTrackers, change: true},
	"torrents/toggleSequentialDownload": {fn: (*Handler).toggleSequential, change: true},
	"torrents/toggleFirstLastPiecePrio": {fn: accepted("hashes"), change: true},
	"torrents/setSuperSeeding":          {fn: accepted("hashes", "value"), change: true},
	"torrents/setAutoManagement":        {fn: accepted("hashes", "enable"), change: true},
	"torrents/setDownloadLimit":         {fn: setRateLimit(false), change: true},
	"torrents/setUploadLimit":           {fn: setRateLimit(true), change: true},
	"torrents/rename":                   {fn: (*Handler).rename, change: true},
	// The per-task limits are read with the endpoints that set them.
	"torrents/downloadLimit": {fn: rateLimits(false)},
	"torrents/uploadLimit":   {fn: rateLimits(true)},
	// queue.go
	"torrents/topPrio":        {fn: queueMove(api.QueueTop), change: true},
	"torrents/bottomPrio":     {fn: queueMove(api.QueueBottom), change: true},
	"torrents/increasePrio":   {fn: queueMove(api.QueueUp), change: true},
	"torrents/decreasePrio":   {fn: queueMove(api.QueueDown), change: true},
	"torrents/setShareLimits": {fn: (*Handler).setShareLimits, change: true},
	"torrents/reannounce":     {fn: (*Handler).reannounce, change: true},
	// categories.go
	"torrents/categories":       {fn: (*Handler).categories},
	"torrents/createCategory":   {fn: (*Handler).createCategory, change: true},
	"torrents/editCategory":     {fn: (*Handler).editCategory, change: true},
	"torrents/removeCategories": {fn: (*Handler).removeCategories, change: true},
	"torrents/setCategory":      {fn: (*Handler).setCategory, change: true},
	// tags.go
	"torrents/tags":       {fn: (*Handler).tagList},
	"torrents/createTags": {fn: (*Handler).createTags, change: true},
	"torrents/deleteTags": {fn: (*Handler).deleteTags, change: true},
	"torrents/addTags":    {fn: (*Handler).addTags, change: true},
	"torrents/removeTags": {fn: (*Handler).removeTags, change: true},
}

// deleteTorrents is torrents/delete: hashes, and deleteFiles ("true"
// also deletes the data). qBittorrent requires deleteFiles; Lodestone
// takes its absence as "false", since Sonarr leaves it out when it keeps
// the data.
func (h *Handler) deleteTorrents(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	del, _ := parseBool(r.FormValue("deleteFiles"))
	h.each(w, r, func(id string) error { return h.svc.Remove(r.Context(), id, del) })
}

// stop is torrents/stop and torrents/pause.
func (h *Handler) stop(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	h.each(w, r, func(id string) error { return h.svc.Pause(r.Context(), id) })
}

// start is torrents/start and torrents/resume.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	h.each(w, r, func(id string) error { return h.svc.Resume(r.Context(), id) })
}

func (h *Handler) recheck(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	h.each(w, r, func(id string) error { return h.svc.Recheck(r.Context(), id) })
}

// setForceStart is torrents/setForceStart. Lodestone has no forced
// start past the queue's limits: value=true resumes the tasks (which
// still wait for a slot when the queue is full); value=false changes
// nothing, since no task is forced.
func (h *Handler) setForceStart(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes", "value") {
		return
	}
	if v, _ := parseBool(r.FormValue("value")); !v {
		h.each(w, r, func(string) error { return nil })
		return
	}
	h.each(w, r, func(id string) error { return h.svc.Resume(r.Context(), id) })
}

// setLocation is torrents/setLocation: hashes and location, the new
// directory, which must lie inside a download root. The data is moved
// before the answer (qBittorrent moves in the background).
func (h *Handler) setLocation(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes", "location") {
		return
	}
	loc := strings.TrimSpace(r.FormValue("location"))
	if loc == "" {
		writeStatus(w, http.StatusBadRequest, "Save path cannot be empty")
		return
	}
	var first error
	for _, t := range h.tasksFor(r.FormValue("hashes")) {
		_, err := h.svc.Move(t.TaskID, loc)
		if errors.Is(err, service.ErrInvalidParams) || errors.Is(err, service.ErrUnsafePath) {
			// A directory outside the roots is one Lodestone cannot make:
			// qBittorrent's answer to a save path it cannot create.
			writeStatus(w, http.StatusConflict, "Cannot make save path: "+err.Error())
			return
		}
		if err != nil && !errors.Is(err, service.ErrTaskNotFound) && first == nil {
			first = err
		}
	}
	if first != nil {
		h.fail(w, first)
		return
	}
	writeText(w, "")
}

// qBittorrent's file priorities and Lodestone's: 0 skips a file, 1 is
// normal, 6 and 7 (high and maximal) are Lodestone's one high.
var filePriorities = map[int64]string{
	0: api.PrioritySkip,
	1: api.PriorityNormal,
	6: api.PriorityHigh,
	7: api.PriorityHigh,
}

// filePrio is torrents/filePrio: hash, id (file indices separated by
// "|") and priority, with qBittorrent's checks in qBittorrent's order.
func (h *Handler) filePrio(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hash", "id", "priority") {
		return
	}
	n, ok := parseInt(r.FormValue("priority"))
	if !ok {
		writeStatus(w, http.StatusBadRequest, "Priority must be an integer")
		return
	}
	prio, ok := filePriorities[n]
	if !ok {
		writeStatus(w, http.StatusBadRequest, "Priority is not valid")
		return
	}
	t, ok := h.oneTask(w, r)
	if !ok {
		return
	}
	if t.Pieces == 0 {
		writeStatus(w, http.StatusConflict, "Torrent's metadata has not yet downloaded")
		return
	}
	files, err := h.svc.Files(t.TaskID)
	if err != nil {
		h.fail(w, err)
		return
	}
	set := map[int]string{}
	for _, s := range strings.Split(r.FormValue("id"), "|") {
		i, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, "File IDs must be integers")
			return
		}
		if i < 0 || i >= len(files.Files) {
			writeStatus(w, http.StatusConflict, "File ID is not valid")
			return
		}
		set[i] = prio
	}
	if _, err := h.svc.Set(t.TaskID, api.TaskSetParams{FilePriorities: set}); err != nil {
		h.fail(w, err)
		return
	}
	writeText(w, "")
}

// oneTask returns the task the "hash" parameter names, or answers 404
// "Not Found" as qBittorrent does.
func (h *Handler) oneTask(w http.ResponseWriter, r *http.Request) (api.Task, bool) {
	id := strings.ToLower(strings.TrimSpace(r.FormValue("hash")))
	t, err := h.svc.Get(id)
	if id == "" || err != nil {
		writeStatus(w, http.StatusNotFound, "Not Found")
		return api.Task{}, false
	}
	return t, true
}

// trackerURLs returns the task's tracker URLs.
func (h *Handler) trackerURLs(id string) ([]string, error) {
	res, err := h.svc.Trackers(id)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(res.Trackers))
	for i, tr := range res.Trackers {
		urls[i] = tr.URL
	}
	return urls, nil
}

// addTrackers is torrents/addTrackers: hash, and urls separated by
// newlines (blank lines, which start a new tier in qBittorrent, are
// skipped: Lodestone's trackers are one list).
func (h *Handler) addTrackers(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hash", "urls") {
		return
	}
	t, ok := h.oneTask(w, r)
	if !ok {
		return
	}
	var urls []string
	for _, u := range strings.Split(r.FormValue("urls"), "\n") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) > 0 {
		if _, err := h.svc.AddTrackers(t.TaskID, urls); err != nil {
			h.fail(w, err)
			return
		}
	}
	writeText(w, "")
}

// editTracker is torrents/editTracker: hash, origUrl, newUrl. Lodestone
// adds the new URL and then removes the old, so the new one ends the
// list rather than taking the old one's place.
func (h *Handler) editTracker(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hash", "origUrl", "newUrl") {
		return
	}
	t, ok := h.oneTask(w, r)
	if !ok {
		return
	}
	orig, repl := strings.TrimSpace(r.FormValue("origUrl")), strings.TrimSpace(r.FormValue("newUrl"))
	if orig == repl {
		writeText(w, "")
		return
	}
	if repl == "" || !strings.Contains(repl, "://") {
		writeStatus(w, http.StatusBadRequest, "New tracker URL is invalid")
		return
	}
	cur, err := h.trackerURLs(t.TaskID)
	if err != nil {
		h.fail(w, err)
		return
	}
	if slices.Contains(cur, repl) {
		writeStatus(w, http.StatusConflict, "New tracker URL already exists")
		return
	}
	if !slices.Contains(cur, orig) {
		writeStatus(w, http.StatusConflict, "Tracker not found")
		return
	}
	if _, err := h.svc.AddTrackers(t.TaskID, []string{repl}); err != nil {
		h.fail(w, err)
		return
	}
	if _, err := h.svc.RemoveTrackers(t.TaskID, []string{orig}); err != nil {
		h.fail(w, err)
		return
	}
	writeText(w, "")
}

// removeTrackers is torrents/removeTrackers: hash, and urls separated by
// "|". URLs the task does not have are ignored, as qBittorrent ignores
// them.
func (h *Handler) removeTrackers(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hash", "urls") {
		return
	}
	t, ok := h.oneTask(w, r)
	if !ok {
		return
	}
	cur, err := h.trackerURLs(t.TaskID)
	if err != nil {
		h.fail(w, err)
		return
	}
	var gone []string
	for _, u := range strings.Split(r.FormValue("urls"), "|") {
		if u = strings.TrimSpace(u); slices.Contains(cur, u) && !slices.Contains(gone, u) {
			gone = append(gone, u)
		}
	}
	if len(gone) > 0 {
		if _, err := h.svc.RemoveTrackers(t.TaskID, gone); err != nil {
			h.fail(w, err)
			return
		}
	}
	writeText(w, "")
}

// toggleSequential is torrents/toggleSequentialDownload: each task's
// sequential order flips.
func (h *Handler) toggleSequential(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hashes") {
		return
	}
	h.each(w, r, func(id string) error {
		t, err := h.svc.Get(id)
		if err != nil {
			return err
		}
		seq := !t.Sequential
		_, err = h.svc.Set(id, api.TaskSetParams{Sequential: &seq})
		return err
	})
}

// accepted answers an endpoint for something Lodestone does not have
// (first and last pieces first, super-seeding, automatic torrent
// management) as qBittorrent answers it done, once the parameters it
// requires are there, and changes nothing: docs/COMPAT.md lists them.
func accepted(params ...string) func(*Handler, http.ResponseWriter, *http.Request) {
	return func(_ *Handler, w http.ResponseWriter, r *http.Request) {
		if !need(w, r, params...) {
			return
		}
		writeText(w, "")
	}
}

// setRateLimit is torrents/setDownloadLimit (upload false) and
// torrents/setUploadLimit: hashes, and limit in bytes per second; 0 or
// less is none, as in qBittorrent.
func setRateLimit(upload bool) func(*Handler, http.ResponseWriter, *http.Request) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request) {
		if !need(w, r, "hashes", "limit") {
			return
		}
		limit, ok := parseInt(r.FormValue("limit"))
		if !ok {
			writeStatus(w, http.StatusBadRequest, "limit must be an integer")
			return
		}
		limit = max(limit, 0)
		p := api.TaskSetParams{DownloadRateLimit: &limit}
		if upload {
			p = api.TaskSetParams{UploadRateLimit: &limit}
		}
		h.each(w, r, func(id string) error {
			_, err := h.svc.Set(id, p)
			return err
		})
	}
}

// rateLimits is torrents/downloadLimit and torrents/uploadLimit: for each
// hash given, {hash: limit} in bytes per second, 0 for none (as
// qBittorrent 5.0), and -1 for a hash of no task.
func rateLimits(upload bool) func(*Handler, http.ResponseWriter, *http.Request) {
	return func(h *Handler, w http.ResponseWriter, r *http.Request) {
		if !need(w, r, "hashes") {
			return
		}
		out := map[string]int64{}
		for _, id := range strings.Split(r.FormValue("hashes"), "|") {
			limit := int64(-1)
			if t, err := h.svc.Get(strings.ToLower(strings.TrimSpace(id))); err == nil {
				limit = t.DownloadRateLimit
				if upload {
					limit = t.UploadRateLimit
				}
			}
			out[id] = limit
		}
		writeJSON(w, out)
	}
}

// rename is torrents/rename: hash and name. Lodestone's task name is the
// torrent's, which it cannot change: after qBittorrent's checks, 409.
func (h *Handler) rename(w http.ResponseWriter, r *http.Request) {
	if !need(w, r, "hash", "name") {
		return
	}
	if strings.TrimSpace(r.FormValue("name")) == "" {
		writeStatus(w, http.StatusConflict, "Incorrect torrent name")
		return
	}
	if _, ok := h.oneTask(w, r); !ok {
		return
	}
	writeStatus(w, http.StatusConflict, "Renaming a torrent is not supported: its name is the torrent's")
}

// labelsOp changes the labels of task id with edit, serialised with the
// other label changes made through this API (under the tag store's lock)
// so that two of them cannot lose one another's tags.
func (h *Handler) labelsOp(id string, edit func([]string) []string) error {
	h.tags.mu.Lock()
	defer h.tags.mu.Unlock()
	return h.labelsOpLocked(id, edit)
}

// labelsOpLocked is labelsOp with h.tags.mu held.
func (h *Handler) labelsOpLocked(id string, edit func([]string) []string) error {
	t, err := h.svc.Get(id)
	if err != nil {
		return err
	}
	labels := edit(slices.Clone(t.Labels))
	if slices.Equal(labels, t.Labels) {
		return nil
	}
	if labels == nil {
		labels = []string{}
	}
	_, err = h.svc.Set(id, api.TaskSetParams{Labels: &labels})
	return err
}
