package qbittorrent

import (
	"math"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// qBittorrent's torrent states, as torrents/info and sync/maindata name
// them. The stopped names are qBittorrent 5's (WebAPI 2.11); 4.x said
// "pausedDL" and "pausedUP". Sonarr and Radarr accept both.
const (
	stateError              = "error"
	stateMissingFiles       = "missingFiles"
	stateUploading          = "uploading"
	stateStoppedUP          = "stoppedUP"
	stateQueuedUP           = "queuedUP"
	stateStalledUP          = "stalledUP"
	stateCheckingUP         = "checkingUP"
	stateDownloading        = "downloading"
	stateMetaDL             = "metaDL"
	stateStoppedDL          = "stoppedDL"
	stateQueuedDL           = "queuedDL"
	stateStalledDL          = "stalledDL"
	stateCheckingDL         = "checkingDL"
	stateMoving             = "moving"
	stateCheckingResumeData = "checkingResumeData"
)

// maxETA is qBittorrent's "infinity" ETA (100 days), sent whenever the
// time left is unknown or the torrent is not downloading.
const maxETA = 8640000

// errDirMissingPrefix begins the error text of a task whose data dir is
// gone (the service's halt); qBittorrent calls that state missingFiles.
const errDirMissingPrefix = "data dir missing"

// torrentInfo is what a torrent object is built from: the task, and
// what other service calls say about it (nil when not asked for).
type torrentInfo struct {
	task     api.Task
	files    []api.TaskFile
	peers    []api.TaskPeer
	trackers []api.TaskTracker
	settings api.Settings
}

// gather reads what torrentObject needs about t. The extra reads are
// cheap per task; those that fail (the task went away meanwhile) leave
// their part empty.
func (h *Handler) gather(t api.Task, st api.Settings) torrentInfo {
	ti := torrentInfo{task: t, settings: st}
	if t.Pieces > 0 {
		if fr, err := h.svc.Files(t.TaskID); err == nil {
			ti.files = fr.Files
		}
	}
	// Task.Peers is refreshed once a second: ask whenever the task may
	// have peers, not only when it last had some.
	if t.Peers > 0 || t.State == api.StateDownloading || t.State == api.StateSeeding || t.State == api.StateMetadata || t.State == api.StateChecking {
		if pr, err := h.svc.Peers(t.TaskID); err == nil {
			ti.peers = pr.Peers
		}
	}
	if tr, err := h.svc.Trackers(t.TaskID); err == nil {
		ti.trackers = tr.Trackers
	}
	return ti
}

// wanted returns the size of the selected files and the verified bytes
// among them. Without a file list (no metadata yet) it is the task's
// own size and completed count.
func (ti *torrentInfo) wanted() (size, done int64) {
	if ti.files == nil {
		return ti.task.Size, min(ti.task.Completed, ti.task.Size)
	}
	for _, f := range ti.files {
		if f.Priority == api.PrioritySkip {
			continue
		}
		size += f.Size
		done += f.Completed
	}
	return size, done
}

// complete reports that every selected byte is verified.
func (ti *torrentInfo) complete() bool {
	if ti.task.State == api.StateSeeding || ti.task.State == api.StateFinished {
		return true
	}
	size, done := ti.wanted()
	return ti.task.Pieces > 0 && done >= size
}

// torrentState maps a task to qBittorrent's state string. Every
// Lodestone state maps; "moving" wins over the state (the task
// transfers nothing while its data moves), as qBittorrent does.
func torrentState(ti *torrentInfo) string {
	t := ti.task
	if t.Busy == api.BusyMoving {
		return stateMoving
	}
	up := ti.complete()
	pick := func(dl, ul string) string {
		if up {
			return ul
		}
		return dl
	}
	switch t.State {
	case api.StateMetadata:
		return stateMetaDL
	case api.StateChecking:
		return pick(stateCheckingDL, stateCheckingUP)
	case api.StateDownloading:
		if t.DownloadRate > 0 {
			return stateDownloading
		}
		return stateStalledDL
	case api.StateSeeding:
		if t.UploadRate > 0 {
			return stateUploading
		}
		return stateStalledUP
	case api.StatePaused:
		return pick(stateStoppedDL, stateStoppedUP)
	case api.StateQueued:
		return pick(stateQueuedDL, stateQueuedUP)
	case api.StateFinished:
		// Seeding ended at its limit: qBittorrent stops such a torrent,
		// and Sonarr takes stoppedUP with a reached limit as done.
		return stateStoppedUP
	case api.StateError:
		if strings.HasPrefix(t.Error, errDirMissingPrefix) {
			return stateMissingFiles
		}
		return stateError
	}
	return stateError
}

// unixTime converts an RFC 3339 time to Unix seconds, -1 when absent or
// unreadable (qBittorrent's "never").
func unixTime(s string) int64 {
	if s == "" {
		return -1
	}
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return -1
	}
	return tm.Unix()
}

// contentPaths returns qBittorrent's content_path (the file of a
// single-file torrent, the top folder of a multi-file one) and
// root_path (that folder; "" for a single file).
func contentPaths(ti *torrentInfo) (content, root string) {
	t := ti.task
	if len(ti.files) == 1 && !strings.Contains(ti.files[0].Path, "/") {
		return filepath.Join(t.DownloadDir, filepath.FromSlash(ti.files[0].Path)), ""
	}
	if t.Name == "" {
		return t.DownloadDir, ""
	}
	// A task's files start with its name (api.TaskFile.Path).
	top := t.Name
	if len(ti.files) > 0 {
		top, _, _ = strings.Cut(ti.files[0].Path, "/")
	}
	dir := filepath.Join(t.DownloadDir, filepath.FromSlash(path.Clean(top)))
	return dir, dir
}

// magnetURI builds a magnet link for the task, with its trackers.
func magnetURI(ti *torrentInfo) string {
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:")
	b.WriteString(ti.task.TaskID)
	if ti.task.Name != "" {
		b.WriteString("&dn=")
		b.WriteString(url.QueryEscape(ti.task.Name))
	}
	for _, tr := range ti.trackers {
		b.WriteString("&tr=")
		b.WriteString(url.QueryEscape(tr.URL))
	}
	return b.String()
}

// shareLimits are a torrent's seeding limits in qBittorrent's terms:
// its own (-2 the global one, -1 none; times in minutes) and those in
// force (-1 none).
type shareLimits struct {
	ratio, maxRatio              float64
	time, idle, maxTime, maxIdle int64
}

// minutes converts a time limit in seconds to qBittorrent's minutes,
// keeping -2 and -1, and rounding a positive one up (a limit of 30 s is
// not "none").
func minutes(secs int64) int64 {
	if secs <= 0 {
		return secs
	}
	return (secs + 59) / 60
}

// inForce is the limit that applies: the task's own, else (-2) the
// session's, where 0 means none; -1 for none.
func inForce[T int64 | float64](own, session T) T {
	v := own
	if own == api.SeedLimitSession {
		v = session
		if v <= 0 {
			return -1
		}
	}
	if v < 0 {
		return -1
	}
	return v
}

// seedLimits are t's seeding limits given the session's settings st.
func seedLimits(t api.Task, st api.Settings) shareLimits {
	return shareLimits{
		ratio:    t.SeedRatioLimit,
		maxRatio: inForce(t.SeedRatioLimit, st.SeedRatioLimit),
		time:     minutes(t.SeedTimeLimit),
		maxTime:  minutes(inForce(t.SeedTimeLimit, st.SeedTimeLimit)),
		idle:     minutes(t.SeedIdleLimit),
		maxIdle:  minutes(inForce(t.SeedIdleLimit, st.SeedIdleLimit)),
	}
}

// torrentObject is the torrent as torrents/info lists it, keyed by
// qBittorrent's field names. Every value is a string, bool, int64 or
// float64, so that sync can compare fields with ==. now is the time the
// relative fields (reannounce, last_activity) are computed at.
func (h *Handler) torrentObject(ti *torrentInfo, now time.Time) map[string]any {
	t := ti.task
	size, done := ti.wanted()
	progress := 0.0
	if size > 0 {
		progress = float64(done) / float64(size)
	} else if t.Pieces > 0 {
		progress = 1 // nothing selected: nothing left
	}
	eta := int64(maxETA)
	if t.State == api.StateDownloading && t.ETASeconds >= 0 {
		eta = min(t.ETASeconds, maxETA)
	}
	var seeds, leechs int64
	for _, p := range ti.peers {
		if p.Progress >= 1 || slices.Contains(p.Flags, "seed") {
			seeds++
		} else {
			leechs++
		}
	}
	complete, incomplete := seeds, leechs
	tracker, reannounce := "", int64(0)
	for _, tr := range ti.trackers {
		complete = max(complete, int64(tr.Seeders))
		incomplete = max(incomplete, int64(tr.Leechers))
		if tracker == "" && tr.Status == "working" {
			tracker = tr.URL
		}
		if next := unixTime(tr.NextAnnounce); next >= 0 {
			in := max(next-now.Unix(), 0)
			if reannounce == 0 || in < reannounce {
				reannounce = in
			}
		}
	}
	addedOn := unixTime(t.AddedAt)
	lastActivity := unixTime(t.ActiveAt)
	if t.DownloadRate > 0 || t.UploadRate > 0 {
		lastActivity = now.Unix()
	} else if lastActivity < 0 {
		lastActivity = addedOn // qBittorrent's answer when nothing ever moved
	}
	contentPath, rootPath := contentPaths(ti)
	ratio := t.Ratio
	if math.IsInf(ratio, 0) || math.IsNaN(ratio) {
		ratio = -1
	}
	lim := seedLimits(t, ti.settings)
	// qBittorrent's queue position: 1-based for incomplete torrents, 0
	// for complete ones. Lodestone has one order over all tasks, so the
	// numbers skip the complete ones.
	priority := int64(0)
	if !ti.complete() {
		priority = int64(t.QueuePosition) + 1
	}
	seedingTime := t.SecondsSeeding
	if t.State == api.StateFinished {
		// Lodestone's seed time limit counts from finished_at: a task it
		// stopped at that limit is shown past it, so that Sonarr, which
		// compares seeding_time with the limit, agrees it is done.
		if fin := unixTime(t.FinishedAt); fin > 0 {
			seedingTime = max(seedingTime, now.Unix()-fin)
		}
	}
	return map[string]any{
		"hash":                        t.TaskID,
		"infohash_v1":                 t.TaskID,
		"infohash_v2":                 "",
		"name":                        t.Name,
		"has_metadata":                t.Pieces > 0,
		"size":                        size,
		"total_size":                  t.Size,
		"progress":                    progress,
		"dlspeed":                     t.DownloadRate,
		"upspeed":                     t.UploadRate,
		"eta":                         eta,
		"state":                       torrentState(ti),
		"category":                    t.Category,
		"tags":                        strings.Join(t.Labels, ", "),
		"save_path":                   t.DownloadDir,
		"download_path":               "",
		"content_path":                contentPath,
		"root_path":                   rootPath,
		"added_on":                    addedOn,
		"completion_on":               unixTime(t.FinishedAt),
		"ratio":                       ratio,
		"ratio_limit":                 lim.ratio,
		"seeding_time":                seedingTime,
		"seeding_time_limit":          lim.time,
		"inactive_seeding_time_limit": lim.idle,
		"max_ratio":                   lim.maxRatio,
		"max_seeding_time":            lim.maxTime,
		"max_inactive_seeding_time":   lim.maxIdle,
		"num_seeds":                   seeds,
		"num_leechs":                  leechs,
		"num_complete":                complete,
		"num_incomplete":              incomplete,
		"amount_left":                 size - done,
		"completed":                   done,
		"downloaded":                  t.Downloaded,
		"uploaded":                    t.Uploaded,
		"downloaded_session":          t.Downloaded,
		"uploaded_session":            t.Uploaded,
		"dl_limit":                    t.DownloadRateLimit,
		"up_limit":                    t.UploadRateLimit,
		"priority":                    priority,
		"seq_dl":                      t.Sequential,
		"f_l_piece_prio":              false,
		"force_start":                 false,
		"auto_tmm":                    false,
		"super_seeding":               false,
		"magnet_uri":                  magnetURI(ti),
		"tracker":                     tracker,
		"trackers_count":              int64(len(ti.trackers)),
		"last_activity":               lastActivity,
		"seen_complete":               seenComplete(ti, seeds, now),
		"time_active":                 t.SecondsDownloading + t.SecondsSeeding,
		"availability":                availability(ti, seeds),
		"private":                     t.Private,
		"reannounce":                  reannounce,
		"comment":                     "",
		"popularity":                  float64(0),
	}
}

// seenComplete is when a complete copy was last seen: now while a seed
// is connected, the completion time if we have it all, else -1.
func seenComplete(ti *torrentInfo, seeds int64, now time.Time) int64 {
	if seeds > 0 {
		return now.Unix()
	}
	return unixTime(ti.task.FinishedAt)
}

// availability is a lower bound of qBittorrent's "distributed copies":
// each connected seed is a full copy, and a complete task is one.
func availability(ti *torrentInfo, seeds int64) float64 {
	if ti.task.Pieces == 0 {
		return -1
	}
	n := float64(seeds)
	if ti.complete() {
		n++
	}
	return n
}
