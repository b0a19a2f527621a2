package qbittorrent

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// readRoutes are the torrents/* endpoints that only read.
var readRoutes = map[string]route{
	"torrents/info":        {fn: (*Handler).torrentsInfo},
	"torrents/count":       {fn: (*Handler).torrentsCount},
	"torrents/properties":  {fn: (*Handler).torrentProperties},
	"torrents/files":       {fn: (*Handler).torrentFiles},
	"torrents/trackers":    {fn: (*Handler).torrentTrackers},
	"torrents/webseeds":    {fn: (*Handler).torrentWebseeds},
	"torrents/pieceStates": {fn: (*Handler).torrentPieceStates},
}

// qBittorrent's error texts.
const (
	textNotFound    = "Not Found"
	textBadSort     = "'sort' parameter is invalid"
	textMissingArgs = "Missing required parameters: "
)

// params parses r's form, answering 400 itself when it cannot.
func params(w http.ResponseWriter, r *http.Request) bool {
	if err := parseForm(r); err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// requireHash returns the task a "hash" parameter names, answering 400
// (missing) or 404 (no such torrent) as qBittorrent does.
func (h *Handler) requireHash(w http.ResponseWriter, r *http.Request) (api.Task, bool) {
	if !params(w, r) {
		return api.Task{}, false
	}
	if !has(r, "hash") {
		writeStatus(w, http.StatusBadRequest, textMissingArgs+"hash")
		return api.Task{}, false
	}
	t, err := h.svc.Get(normHash(r.FormValue("hash")))
	if err != nil {
		writeStatus(w, http.StatusNotFound, textNotFound)
		return api.Task{}, false
	}
	return t, true
}

// statusFilter is one of torrents/info's "filter" values: whether a
// torrent in qBittorrent state st (with its rates) passes.
type statusFilter func(st string, obj map[string]any) bool

func inStates(states ...string) statusFilter {
	return func(st string, _ map[string]any) bool { return slices.Contains(states, st) }
}

func not(f statusFilter) statusFilter {
	return func(st string, obj map[string]any) bool { return !f(st, obj) }
}

var (
	filterDownloading = inStates(stateDownloading, stateMetaDL, stateStalledDL, stateCheckingDL, stateStoppedDL, stateQueuedDL)
	filterSeeding     = inStates(stateUploading, stateStalledUP, stateCheckingUP, stateQueuedUP)
	filterCompleted   = inStates(stateUploading, stateStalledUP, stateCheckingUP, stateStoppedUP, stateQueuedUP)
	filterStopped     = inStates(stateStoppedDL, stateStoppedUP)
	filterActive      = func(_ string, obj map[string]any) bool {
		return obj["dlspeed"].(int64) > 0 || obj["upspeed"].(int64) > 0
	}
	filterStalled = inStates(stateStalledDL, stateStalledUP)
)

// statusFilters are torrents/info's "filter" values, as qBittorrent 5
// names them, with 4.x's "paused" and "resumed" as the aliases they are.
// An unknown value is "all", as in qBittorrent.
var statusFilters = map[string]statusFilter{
	"downloading":         filterDownloading,
	"seeding":             filterSeeding,
	"completed":           filterCompleted,
	"stopped":             filterStopped,
	"paused":              filterStopped,
	"running":             not(filterStopped),
	"resumed":             not(filterStopped),
	"active":              filterActive,
	"inactive":            not(filterActive),
	"stalled":             filterStalled,
	"stalled_uploading":   inStates(stateStalledUP),
	"stalled_downloading": inStates(stateStalledDL),
	"checking":            inStates(stateCheckingDL, stateCheckingUP, stateCheckingResumeData),
	"moving":              inStates(stateMoving),
	"errored":             inStates(stateError, stateMissingFiles),
}

// infoQuery is a parsed torrents/info request.
type infoQuery struct {
	filter   statusFilter // nil: all
	category *string
	tag      *string
	hashes   map[string]bool // nil: all
	private  *bool
	sort     string
	reverse  bool
	limit    int
	offset   int
}

func parseInfoQuery(r *http.Request) infoQuery {
	q := infoQuery{filter: statusFilters[r.FormValue("filter")], sort: r.FormValue("sort")}
	if has(r, "category") {
		c := r.FormValue("category")
		q.category = &c
	}
	if has(r, "tag") {
		t := r.FormValue("tag")
		q.tag = &t
	}
	if v := r.FormValue("hashes"); v != "" {
		q.hashes = map[string]bool{}
		for _, hs := range strings.Split(v, "|") {
			if hs = strings.ToLower(strings.TrimSpace(hs)); hs != "" {
				q.hashes[hs] = true
			}
		}
	}
	if v, ok := parseBool(r.FormValue("private")); ok {
		q.private = &v
	}
	q.reverse, _ = parseBool(r.FormValue("reverse"))
	// qBittorrent reads these with QString::toInt: garbage is 0.
	q.limit, _ = strconv.Atoi(r.FormValue("limit"))
	q.offset, _ = strconv.Atoi(r.FormValue("offset"))
	return q
}

// match reports whether the torrent obj of task t passes q.
func (q *infoQuery) match(t api.Task, obj map[string]any) bool {
	if q.hashes != nil && !q.hashes[t.TaskID] {
		return false
	}
	if q.category != nil && obj["category"] != *q.category {
		return false
	}
	if q.tag != nil {
		if *q.tag == "" {
			if len(t.Labels) > 0 {
				return false
			}
		} else if !slices.Contains(t.Labels, *q.tag) {
			return false
		}
	}
	if q.private != nil && obj["private"] != *q.private {
		return false
	}
	return q.filter == nil || q.filter(obj["state"].(string), obj)
}

// errBadSort is torrents/info's answer to a sort key no torrent has.
var errBadSort = errors.New(textBadSort)

// apply sorts and pages list as qBittorrent does: an unknown sort key is
// an error (when there is anything to sort), a negative offset counts
// from the end, a limit of 0 or less is no limit.
func (q *infoQuery) apply(list []map[string]any) ([]map[string]any, error) {
	if len(list) == 0 {
		return list, nil
	}
	if q.sort != "" {
		if _, ok := list[0][q.sort]; !ok {
			return nil, errBadSort
		}
		slices.SortStableFunc(list, func(a, b map[string]any) int {
			c := compareValues(a[q.sort], b[q.sort])
			if q.reverse {
				return -c
			}
			return c
		})
	}
	off, lim := q.offset, q.limit
	if off < 0 {
		off = len(list) + off
	}
	if lim > 0 || off > 0 {
		off = max(off, 0)
		if off >= len(list) {
			return []map[string]any{}, nil
		}
		list = list[off:]
		if lim > 0 && lim < len(list) {
			list = list[:lim]
		}
	}
	return list, nil
}

// compareValues orders two field values of the same kind.
func compareValues(a, b any) int {
	switch x := a.(type) {
	case int64:
		y, _ := b.(int64)
		return cmp.Compare(x, y)
	case float64:
		y, _ := b.(float64)
		return cmp.Compare(x, y)
	case string:
		y, _ := b.(string)
		return cmp.Compare(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	}
	return 0
}

// torrentsInfo is torrents/info: the torrents passing the filters, as
// objects with qBittorrent's fields.
func (h *Handler) torrentsInfo(w http.ResponseWriter, r *http.Request) {
	if !params(w, r) {
		return
	}
	q := parseInfoQuery(r)
	st, _ := h.svc.Settings()
	now := time.Now()
	var tasks []api.Task
	if q.hashes != nil && len(q.hashes) <= 16 {
		// A few hashes (Sonarr asks for one): no need to list them all.
		for id := range q.hashes {
			if t, err := h.svc.Get(id); err == nil {
				tasks = append(tasks, t)
			}
		}
		slices.SortFunc(tasks, func(a, b api.Task) int { return cmp.Compare(a.AddedAt, b.AddedAt) })
	} else {
		tasks = h.svc.List(service.ListFilter{})
	}
	list := make([]map[string]any, 0, len(tasks))
	for _, t := range tasks {
		ti := h.gather(t, st)
		obj := h.torrentObject(&ti, now)
		if q.match(t, obj) {
			list = append(list, obj)
		}
	}
	list, err := q.apply(list)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, list)
}

// torrentsCount is torrents/count: how many torrents, as text.
func (h *Handler) torrentsCount(w http.ResponseWriter, _ *http.Request) {
	writeText(w, strconv.Itoa(len(h.svc.List(service.ListFilter{}))))
}

// torrentProperties is torrents/properties: one torrent's general
// properties.
func (h *Handler) torrentProperties(w http.ResponseWriter, r *http.Request) {
	t, ok := h.requireHash(w, r)
	if !ok {
		return
	}
	st, _ := h.svc.Settings()
	ti := h.gather(t, st)
	now := time.Now()
	obj := h.torrentObject(&ti, now)
	limit := func(v int64) int64 {
		if v > 0 {
			return v
		}
		return -1
	}
	elapsed := obj["time_active"].(int64)
	seeding := obj["seeding_time"].(int64)
	avg := func(total, secs int64) int64 {
		if secs > 0 {
			return total / secs
		}
		return -1
	}
	var piecesHave int64
	if pr, err := h.svc.Pieces(t.TaskID); err == nil {
		piecesHave = int64(countBits(pr.Have))
	}
	var private any
	if t.Pieces > 0 {
		private = obj["private"]
	}
	writeJSON(w, map[string]any{
		"hash":                     t.TaskID,
		"infohash_v1":              t.TaskID,
		"infohash_v2":              "",
		"name":                     t.Name,
		"time_elapsed":             elapsed,
		"seeding_time":             seeding,
		"eta":                      obj["eta"],
		"nb_connections":           int64(t.Peers),
		"nb_connections_limit":     int64(-1),
		"total_downloaded":         t.Downloaded,
		"total_downloaded_session": t.Downloaded,
		"total_uploaded":           t.Uploaded,
		"total_uploaded_session":   t.Uploaded,
		"dl_speed":                 t.DownloadRate,
		"dl_speed_avg":             avg(t.Downloaded, elapsed-seeding),
		"up_speed":                 t.UploadRate,
		"up_speed_avg":             avg(t.Uploaded, elapsed),
		"dl_limit":                 limit(t.DownloadRateLimit),
		"up_limit":                 limit(t.UploadRateLimit),
		"total_wasted":             int64(0),
		"seeds":                    obj["num_seeds"],
		"seeds_total":              obj["num_complete"],
		"peers":                    obj["num_leechs"],
		"peers_total":              obj["num_incomplete"],
		"share_ratio":              obj["ratio"],
		"popularity":               obj["popularity"],
		"availability":             obj["availability"],
		"reannounce":               obj["reannounce"],
		"total_size":               t.Size,
		"pieces_num":               int64(t.Pieces),
		"piece_size":               t.PieceSize,
		"pieces_have":              piecesHave,
		"created_by":               "",
		"is_private":               obj["private"],
		"private":                  private,
		"addition_date":            obj["added_on"],
		"last_seen":                obj["seen_complete"],
		"completion_date":          obj["completion_on"],
		"creation_date":            int64(-1),
		"save_path":                t.DownloadDir,
		"download_path":            "",
		"comment":                  obj["comment"],
		"has_metadata":             t.Pieces > 0,
		"progress":                 obj["progress"],
	})
}

// countBits counts the set bits of a base64 bitfield.
func countBits(b64 string) int {
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return 0
	}
	n := 0
	for _, x := range b {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// qBittorrent's file priorities.
const (
	filePrioIgnored = 0
	filePrioNormal  = 1
	filePrioHigh    = 6
	filePrioMaximum = 7
)

// filePriority maps a Lodestone file priority to qBittorrent's.
func filePriority(p string) int {
	switch p {
	case api.PrioritySkip:
		return filePrioIgnored
	case api.PriorityHigh:
		return filePrioHigh
	}
	return filePrioNormal
}

// torrentFiles is torrents/files: the files of one torrent, all or
// those "indexes" names; [] until the metadata is known.
func (h *Handler) torrentFiles(w http.ResponseWriter, r *http.Request) {
	t, ok := h.requireHash(w, r)
	if !ok {
		return
	}
	if t.Pieces == 0 {
		writeJSON(w, []any{})
		return
	}
	fr, err := h.svc.Files(t.TaskID)
	if err != nil {
		writeStatus(w, http.StatusNotFound, textNotFound)
		return
	}
	var pick []int
	if has(r, "indexes") {
		for _, s := range strings.Split(r.FormValue("indexes"), "|") {
			i, err := strconv.Atoi(s)
			if err != nil || i < 0 {
				writeStatus(w, http.StatusConflict, fmt.Sprintf("%q is not a valid file index.", s))
				return
			}
			if i >= len(fr.Files) {
				writeStatus(w, http.StatusConflict, fmt.Sprintf("Index %s is out of bounds.", s))
				return
			}
			pick = append(pick, i)
		}
	} else {
		for i := range fr.Files {
			pick = append(pick, i)
		}
	}
	// Piece ranges come from the files' offsets, in index order.
	offsets := make([]int64, len(fr.Files))
	var off int64
	for i, f := range fr.Files {
		offsets[i] = off
		off += f.Size
	}
	st, _ := h.svc.Settings()
	ti := h.gather(t, st)
	seedConnected := 0.0
	for _, p := range ti.peers {
		if p.Progress >= 1 {
			seedConnected = 1
			break
		}
	}
	seed := ti.complete()
	out := make([]map[string]any, 0, len(pick))
	for n, i := range pick {
		f := fr.Files[i]
		progress := 1.0
		if f.Size > 0 {
			progress = float64(f.Completed) / float64(f.Size)
		}
		first, last := offsets[i]/t.PieceSize, offsets[i]/t.PieceSize
		if f.Size > 0 {
			last = (offsets[i] + f.Size - 1) / t.PieceSize
		}
		obj := map[string]any{
			"index":        i,
			"name":         f.Path,
			"size":         f.Size,
			"progress":     progress,
			"priority":     filePriority(f.Priority),
			"piece_range":  []int64{first, last},
			"availability": max(seedConnected, progress),
		}
		if n == 0 {
			// qBittorrent sets is_seed on the first file only.
			obj["is_seed"] = seed
		}
		out = append(out, obj)
	}
	writeJSON(w, out)
}

// qBittorrent's tracker statuses.
const (
	trackerDisabled     = 0
	trackerNotContacted = 1
	trackerWorking      = 2
	trackerNotWorking   = 4
)

// torrentTrackers is torrents/trackers: qBittorrent's three pseudo
// trackers (DHT, PeX, LSD, with the peers each found), then the real
// ones.
func (h *Handler) torrentTrackers(w http.ResponseWriter, r *http.Request) {
	t, ok := h.requireHash(w, r)
	if !ok {
		return
	}
	var peers []api.TaskPeer
	if pr, err := h.svc.Peers(t.TaskID); err == nil {
		peers = pr.Peers
	}
	private := t.Private
	sticky := func(name, source string, enabled bool) map[string]any {
		var seeds, leeches int64
		for _, p := range peers {
			if p.Source != source {
				continue
			}
			if p.Progress >= 1 {
				seeds++
			} else {
				leeches++
			}
		}
		status, msg := trackerDisabled, ""
		if enabled && !private {
			status = trackerWorking
		}
		if private {
			msg = "This torrent is private"
		}
		return map[string]any{
			"url": name, "tier": -1, "msg": msg, "status": status,
			"num_peers": 0, "num_downloaded": 0, "num_seeds": seeds, "num_leeches": leeches,
		}
	}
	out := []map[string]any{
		sticky("** [DHT] **", "dht", h.dht),
		sticky("** [PeX] **", "pex", h.pex),
		sticky("** [LSD] **", "lan", false),
	}
	tr, err := h.svc.Trackers(t.TaskID)
	if err != nil {
		writeStatus(w, http.StatusNotFound, textNotFound)
		return
	}
	for i, x := range tr.Trackers {
		status := trackerNotContacted
		switch x.Status {
		case "working":
			status = trackerWorking
		case "error":
			status = trackerNotWorking
		}
		out = append(out, map[string]any{
			"url":            x.URL,
			"tier":           i,
			"status":         status,
			"msg":            x.LastError,
			"num_peers":      -1,
			"num_seeds":      x.Seeders,
			"num_leeches":    x.Leechers,
			"num_downloaded": -1,
			"updating":       false,
			"next_announce":  max(unixTime(x.NextAnnounce), 0),
			"min_announce":   max(unixTime(x.NextAnnounce), 0),
			"endpoints":      []any{},
		})
	}
	writeJSON(w, out)
}

// torrentWebseeds is torrents/webseeds: Lodestone does not use web
// seeds, so always [] for a known torrent.
func (h *Handler) torrentWebseeds(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.requireHash(w, r); ok {
		writeJSON(w, []any{})
	}
}

// torrentPieceStates is torrents/pieceStates: per piece, 0 (missing) or
// 2 (verified). Lodestone does not report pieces in flight, so 1
// ("downloading") is never sent.
func (h *Handler) torrentPieceStates(w http.ResponseWriter, r *http.Request) {
	t, ok := h.requireHash(w, r)
	if !ok {
		return
	}
	pr, err := h.svc.Pieces(t.TaskID)
	if err != nil {
		writeStatus(w, http.StatusNotFound, textNotFound)
		return
	}
	have, _ := base64.StdEncoding.DecodeString(pr.Have)
	out := make([]int, pr.Pieces)
	for i := range out {
		if i/8 < len(have) && have[i/8]&(0x80>>(i%8)) != 0 {
			out[i] = 2
		}
	}
	writeJSON(w, out)
}
