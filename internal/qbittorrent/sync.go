package qbittorrent

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// syncRoutes are sync/maindata and sync/torrentPeers.
var syncRoutes = map[string]route{
	"sync/maindata":     {fn: (*Handler).maindata},
	"sync/torrentPeers": {fn: (*Handler).torrentPeers},
}

// How sync/maindata's state is bounded and kept fresh.
const (
	// maxSnapshots is how many answers (rids) are remembered, over all
	// clients: a rid older than that gets a full update, as an unknown
	// one does in qBittorrent.
	maxSnapshots = 32
	// progressWindow is how long after a sync request the subscriber
	// keeps asking the service for progress events; past it the service
	// stops producing them, and the next request reads every task again.
	progressWindow = 2 * time.Minute
	// relistAfter bounds how stale a change that made no event (a
	// label, a limit or a move made through Lodestone's own API) can
	// stay: every task is read again at most this often, and only when
	// sync requests come.
	relistAfter = 30 * time.Second
	// maxRID is where rids wrap around, as qBittorrent's do.
	maxRID = 1000000
)

// taskEvents are the events that say a task changed.
var taskEvents = []string{
	api.EventTaskAdded, api.EventTaskRemoved, api.EventTaskState, api.EventTaskMetadata,
	api.EventTaskFinished, api.EventTaskError, api.EventTaskProgress, api.EventTaskChanged,
	api.EventTaskQueue,
}

// tobj is one torrent's object as last built. It is never changed once
// stored: a change builds a new one, so two snapshots holding the same
// pointer hold the same fields.
type tobj struct {
	fields   map[string]any
	trackers []string // the torrent's tracker URLs, for the trackers map
}

// snapshot is what one sync/maindata answer told its client, kept to
// diff the next request that names its rid.
type snapshot struct {
	rid      int
	torrents map[string]*tobj
	cats     map[string]map[string]any
	tags     []string
	trackers map[string][]string // tracker URL → the hashes of its torrents
	server   map[string]any
}

// syncState is sync/maindata's memory: which tasks changed since the
// objects were built (fed by the event subscriber and by change
// requests), the current objects, and the last answers.
type syncState struct {
	// dmu guards the change marks. It is separate from mu so that the
	// event subscriber never waits for a request building objects.
	dmu     sync.Mutex
	dirty   map[string]bool
	dirtAll bool

	// caughtUp takes a request's channel to the event subscriber, which
	// reads every event already queued to it, then closes the channel:
	// so a sync request sees every change acknowledged before it came
	// (Hub.Publish returns only once its event is queued).
	caughtUp chan chan struct{}

	// lastSync is when the last sync request came (Unix nanoseconds):
	// progress events are wanted only while clients poll.
	lastSync atomic.Int64

	// mu guards the fields below; a sync request holds it throughout.
	mu       sync.Mutex
	cache    map[string]*tobj // by hash: every task's current object
	built    bool
	listedAt time.Time
	rid      int
	snaps    []*snapshot // the last answers, oldest first
	peers    []*peerSnapshot
}

func newSyncState() *syncState {
	return &syncState{dirty: map[string]bool{}, cache: map[string]*tobj{}, caughtUp: make(chan chan struct{})}
}

// mark records that tasks ids changed.
func (s *syncState) mark(ids ...string) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	for _, id := range ids {
		s.dirty[id] = true
	}
}

// markAll records that any task may have changed.
func (s *syncState) markAll() {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	s.dirtAll = true
	clear(s.dirty)
}

// takeDirty returns and clears the marks.
func (s *syncState) takeDirty() (all bool, ids []string) {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	all, s.dirtAll = s.dirtAll, false
	for id := range s.dirty {
		ids = append(ids, id)
	}
	clear(s.dirty)
	return all, ids
}

// polling reports whether a sync request came recently enough that
// progress events are worth having.
func (s *syncState) polling() bool {
	last := s.lastSync.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < progressWindow
}

// Run feeds sync/maindata from the event hub until ctx ends: each event
// about a task marks it changed. It returns nil when ctx ends or the hub
// closes; without a hub it only waits for ctx.
func (h *Handler) Run(ctx context.Context) error {
	if h.hub == nil {
		<-ctx.Done()
		return nil
	}
	names := events.Names(taskEvents...)
	filter := func(name string) bool {
		if name == api.EventTaskProgress {
			return h.sync.polling()
		}
		return names(name)
	}
	for {
		sub := h.hub.Subscribe(filter)
		// Anything may have changed before the subscription began.
		h.sync.markAll()
		err := h.consume(ctx, sub)
		sub.Close()
		if err == nil || errors.Is(err, events.ErrClosed) {
			return nil
		}
		// Lagging: subscribe again and read everything afresh.
		h.log.Debug("qbittorrent sync subscription ended, renewing", "err", err)
	}
}

// consume marks the tasks sub's events name until ctx ends (nil) or sub
// does (its error).
func (h *Handler) consume(ctx context.Context, sub *events.Subscription) error {
	handle := func(frame []byte) {
		var ev struct {
			Name string `json:"name"`
			Data struct {
				TaskID string `json:"task_id"`
			} `json:"data"`
		}
		switch {
		case json.Unmarshal(frame, &ev) != nil:
		case ev.Name == api.EventTaskQueue:
			// One move shifts the positions of every task in between.
			h.sync.markAll()
		case ev.Data.TaskID != "":
			h.sync.mark(ev.Data.TaskID)
		}
	}
	drain := func() {
		for {
			frame, ok := sub.Next()
			if !ok {
				return
			}
			handle(frame)
		}
	}
	for {
		drain()
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			return sub.Err()
		case frame := <-sub.C():
			handle(frame)
		case <-sub.Kick():
		case done := <-h.sync.caughtUp:
			drain()
			close(done)
		}
	}
}

// catchUpWait bounds how long a sync request waits for the event
// subscriber to read what is queued to it; past that it answers with
// what is marked so far (the next request has the rest).
const catchUpWait = time.Second

// catchUp waits until the event subscriber has read every event queued
// to it before now, or catchUpWait.
func (h *Handler) catchUp() {
	if h.hub == nil {
		return
	}
	t := time.NewTimer(catchUpWait)
	defer t.Stop()
	done := make(chan struct{})
	select {
	case h.sync.caughtUp <- done:
	case <-t.C:
		return
	}
	select {
	case <-done:
	case <-t.C:
	}
}

// refreshLocked brings the cache up to date: every task again after a
// markAll, a gap in progress events or relistAfter, else the marked
// ones only. s.mu must be held.
func (h *Handler) refreshLocked(now time.Time, wasPolling bool) {
	s := h.sync
	all, ids := s.takeDirty()
	if !s.built || all || !wasPolling || now.Sub(s.listedAt) >= relistAfter {
		st, _ := h.svc.Settings()
		cache := make(map[string]*tobj, len(s.cache))
		for _, t := range h.svc.List(service.ListFilter{}) {
			cache[t.TaskID] = h.keep(s.cache[t.TaskID], t, st, now)
		}
		s.cache, s.built, s.listedAt = cache, true, now
		return
	}
	if len(ids) == 0 {
		return
	}
	st, _ := h.svc.Settings()
	for _, id := range ids {
		t, err := h.svc.Get(id)
		if err != nil {
			delete(s.cache, id)
			continue
		}
		s.cache[id] = h.keep(s.cache[id], t, st, now)
	}
}

// keep builds t's object, returning old itself when nothing changed, so
// that unchanged tasks keep their pointer.
func (h *Handler) keep(old *tobj, t api.Task, st api.Settings, now time.Time) *tobj {
	ti := h.gather(t, st)
	fields := h.torrentObject(&ti, now)
	delete(fields, "hash") // the key of the torrents map, as in qBittorrent
	trackers := make([]string, 0, len(ti.trackers))
	for _, tr := range ti.trackers {
		trackers = append(trackers, tr.URL)
	}
	if old != nil && maps.Equal(old.fields, fields) && slices.Equal(old.trackers, trackers) {
		return old
	}
	return &tobj{fields: fields, trackers: trackers}
}

// trackerMap is sync/maindata's trackers: each tracker URL with the
// hashes of the torrents that have it, sorted.
func trackerMap(cache map[string]*tobj) map[string][]string {
	m := map[string][]string{}
	for id, o := range cache {
		for _, u := range o.trackers {
			m[u] = append(m[u], id)
		}
	}
	for _, ids := range m {
		slices.Sort(ids)
	}
	return m
}

// maindataCategories are the categories as sync/maindata sends them,
// as torrents/categories shows them: name and savePath; a category with
// a complete path shows that as its savePath and its save path as
// download_path (where data is while incomplete). They are read at
// every request: the service keeps them in memory, and there are few.
func (h *Handler) maindataCategories() map[string]map[string]any {
	return h.categoryObjects() // categories.go
}

// serverState is sync/maindata's server_state: transfer/info's fields
// and a few more.
func (h *Handler) serverState() map[string]any {
	m := h.transferState()
	stats := h.svc.Stats()
	st, _ := h.svc.Settings()
	m["free_space_on_disk"] = stats.FreeDiskBytes
	m["queueing"] = st.MaxActiveDownloads > 0 || st.MaxActiveSeeds > 0
	m["use_alt_speed_limits"] = false
	m["refresh_interval"] = int64(1500)
	m["alltime_dl"] = stats.Downloaded
	m["alltime_ul"] = stats.Uploaded
	m["total_peer_connections"] = int64(0)
	// qBittorrent's ratio of everything ever sent to everything ever
	// received, as it formats it ("%.2f", a string).
	ratio := 0.0
	if stats.Downloaded > 0 {
		ratio = float64(stats.Uploaded) / float64(stats.Downloaded)
	}
	m["global_ratio"] = strconv.FormatFloat(ratio, 'f', 2, 64)
	// libtorrent's disk cache and I/O queue statistics: Lodestone's
	// storage has no such cache, so they read as nothing cached, queued
	// or wasted, with qBittorrent's types (three are strings).
	for _, k := range []string{"average_time_queue", "queued_io_jobs", "total_buffers_size", "total_queued_size", "total_wasted_session"} {
		m[k] = int64(0)
	}
	for _, k := range []string{"read_cache_hits", "read_cache_overload", "write_cache_overload"} {
		m[k] = "0"
	}
	return m
}

// findSnapLocked returns the remembered answer rid, or nil.
func (s *syncState) findSnapLocked(rid int) *snapshot {
	for _, sn := range s.snaps {
		if sn.rid == rid {
			return sn
		}
	}
	return nil
}

// nextRIDLocked returns a new response id, 1 to maxRID.
func (s *syncState) nextRIDLocked() int {
	s.rid = s.rid%maxRID + 1
	return s.rid
}

// maindata is sync/maindata: with rid 0, or one no longer (or never)
// remembered, everything and full_update; otherwise what changed since
// that answer: torrents as partial objects (the changed fields),
// torrents_removed, categories(_removed), tags(_removed),
// trackers(_removed), and the changed server_state fields.
func (h *Handler) maindata(w http.ResponseWriter, r *http.Request) {
	if !params(w, r) {
		return
	}
	rid, _ := strconv.Atoi(r.FormValue("rid"))
	s := h.sync
	now := time.Now()
	wasPolling := s.polling()
	s.lastSync.Store(now.UnixNano())
	h.catchUp()

	s.mu.Lock()
	defer s.mu.Unlock()
	h.refreshLocked(now, wasPolling)
	cur := &snapshot{
		torrents: maps.Clone(s.cache),
		cats:     h.maindataCategories(),
		tags:     h.allTagsFrom(s.cache, h.tags.list()...),
		trackers: trackerMap(s.cache),
		server:   h.serverState(),
	}
	var prev *snapshot
	if rid > 0 {
		prev = s.findSnapLocked(rid)
	}
	out := map[string]any{}
	if prev == nil {
		out["full_update"] = true
		torrents := make(map[string]map[string]any, len(cur.torrents))
		for id, o := range cur.torrents {
			torrents[id] = o.fields
		}
		out["torrents"] = torrents
		out["categories"] = cur.cats
		out["tags"] = cur.tags
		out["trackers"] = cur.trackers
		out["server_state"] = cur.server
	} else {
		diffInto(out, prev, cur)
	}
	cur.rid = s.nextRIDLocked()
	out["rid"] = cur.rid
	if len(s.snaps) >= maxSnapshots {
		s.snaps = slices.Delete(s.snaps, 0, len(s.snaps)-maxSnapshots+1)
	}
	s.snaps = append(s.snaps, cur)
	writeJSON(w, out)
}

// diffInto puts in out what changed from prev to cur, leaving out the
// keys with nothing to say, as qBittorrent does.
func diffInto(out map[string]any, prev, cur *snapshot) {
	keyedDiff(out, "torrents", prev.torrents, cur.torrents, func(old *tobj, had bool, o *tobj) (map[string]any, bool) {
		switch {
		case !had:
			return o.fields, true
		case old == o: // unchanged objects keep their pointer
			return nil, false
		}
		d := fieldDiff(old.fields, o.fields)
		return d, len(d) > 0
	})
	keyedDiff(out, "categories", prev.cats, cur.cats, changedFields)
	var tagsAdded, tagsRemoved []string
	for _, t := range cur.tags {
		if !slices.Contains(prev.tags, t) {
			tagsAdded = append(tagsAdded, t)
		}
	}
	for _, t := range prev.tags {
		if !slices.Contains(cur.tags, t) {
			tagsRemoved = append(tagsRemoved, t)
		}
	}
	if len(tagsAdded) > 0 {
		out["tags"] = tagsAdded
	}
	if len(tagsRemoved) > 0 {
		out["tags_removed"] = tagsRemoved
	}
	keyedDiff(out, "trackers", prev.trackers, cur.trackers, func(old []string, had bool, ids []string) ([]string, bool) {
		return ids, !had || !slices.Equal(old, ids) // the whole list, as qBittorrent sends it
	})
	if d := fieldDiff(prev.server, cur.server); len(d) > 0 {
		out["server_state"] = d
	}
}

// keyedDiff puts under name in out the entries of cur that are new or
// changed since prev, as change says (had: prev has the key), and under
// name+"_removed" the keys of prev that cur lacks, sorted; either is left
// out when empty, as qBittorrent does.
func keyedDiff[V, D any](out map[string]any, name string, prev, cur map[string]V, change func(old V, had bool, v V) (D, bool)) {
	changed := map[string]D{}
	for k, v := range cur {
		old, had := prev[k]
		if d, ok := change(old, had, v); ok {
			changed[k] = d
		}
	}
	if len(changed) > 0 {
		out[name] = changed
	}
	var removed []string
	for k := range prev {
		if _, ok := cur[k]; !ok {
			removed = append(removed, k)
		}
	}
	if len(removed) > 0 {
		slices.Sort(removed)
		out[name+"_removed"] = removed
	}
}

// changedFields is keyedDiff's change for field maps: the fields new or
// different since old (all of them for a new key).
func changedFields(old map[string]any, _ bool, cur map[string]any) (map[string]any, bool) {
	d := fieldDiff(old, cur)
	return d, len(d) > 0
}

// fieldDiff returns the fields of cur that are new or differ from old.
// Values are strings, bools and numbers, compared with ==.
func fieldDiff(old, cur map[string]any) map[string]any {
	d := map[string]any{}
	for k, v := range cur {
		if ov, ok := old[k]; !ok || ov != v {
			d[k] = v
		}
	}
	return d
}

// allTagsFrom is every tag of the cached torrents and the extra ones
// (tags created without a torrent), sorted: the tags are the tasks'
// labels, so the cache has them all without listing tasks.
func (h *Handler) allTagsFrom(cache map[string]*tobj, extra ...string) []string {
	tags := append([]string{}, extra...) // [] when none, never null
	for _, o := range cache {
		tags = append(tags, splitTags(o.fields["tags"].(string))...)
	}
	slices.Sort(tags)
	return slices.Compact(tags)
}

// peerSnapshot is what one sync/torrentPeers answer told its client.
type peerSnapshot struct {
	rid   int
	hash  string
	peers map[string]map[string]any
}

// torrentPeers is sync/torrentPeers: one torrent's peers keyed
// "ip:port", with the same rid rule as sync/maindata.
func (h *Handler) torrentPeers(w http.ResponseWriter, r *http.Request) {
	if !params(w, r) {
		return
	}
	id := normHash(r.FormValue("hash"))
	pr, err := h.svc.Peers(id)
	if err != nil {
		writeStatus(w, http.StatusNotFound, textNotFound)
		return
	}
	rid, _ := strconv.Atoi(r.FormValue("rid"))
	cur := &peerSnapshot{hash: id, peers: make(map[string]map[string]any, len(pr.Peers))}
	for _, p := range pr.Peers {
		cur.peers[p.Address] = peerObject(p)
	}
	s := h.sync
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev *peerSnapshot
	if rid > 0 {
		for _, ps := range s.peers {
			if ps.rid == rid && ps.hash == id {
				prev = ps
			}
		}
	}
	out := map[string]any{"show_flags": false}
	if prev == nil {
		out["full_update"] = true
		out["peers"] = cur.peers
	} else {
		keyedDiff(out, "peers", prev.peers, cur.peers, changedFields)
	}
	cur.rid = s.nextRIDLocked()
	out["rid"] = cur.rid
	if len(s.peers) >= maxSnapshots {
		s.peers = slices.Delete(s.peers, 0, len(s.peers)-maxSnapshots+1)
	}
	s.peers = append(s.peers, cur)
	writeJSON(w, out)
}

// peerObject is one peer as sync/torrentPeers lists it.
func peerObject(p api.TaskPeer) map[string]any {
	host, port := splitHostPort(p.Address)
	conn := "BT"
	flags, desc := "", ""
	addFlag := func(f, d string) {
		if flags != "" {
			flags += " "
			desc += "\n"
		}
		flags += f
		desc += f + " = " + d
	}
	if slices.Contains(p.Flags, "utp") {
		conn = "μTP"
		addFlag("P", "μTP")
	}
	if slices.Contains(p.Flags, "incoming") {
		addFlag("I", "Incoming connection")
	}
	switch p.Source {
	case "dht":
		addFlag("H", "Peer from DHT")
	case "pex":
		addFlag("X", "Peer from PEX")
	case "lan":
		addFlag("L", "Peer from LSD")
	}
	return map[string]any{
		"ip":             host,
		"port":           port,
		"client":         p.Client,
		"peer_id_client": "",
		"progress":       p.Progress,
		"dl_speed":       p.DownloadRate,
		"up_speed":       p.UploadRate,
		"downloaded":     p.Downloaded,
		"uploaded":       p.Uploaded,
		"connection":     conn,
		"flags":          flags,
		"flags_desc":     desc,
		"relevance":      float64(0),
		"files":          "",
		"country":        "",
		"country_code":   "",
	}
}

// splitTags splits a torrent's tags field ("a, b") into its tags.
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ", ")
}

// normHash is a hash parameter as a task id: lowercase, trimmed.
func normHash(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// splitHostPort splits a peer address, keeping the whole as the host
// when it has no port.
func splitHostPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}
