package transmission

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// The session methods.

// minutes rounds seconds up to whole minutes, Transmission's unit of seed
// limits, so that a limit is never reported shorter than it is.
func minutes(seconds int64) int64 { return (seconds + 59) / 60 }

func (h *Handler) sessionGet(_ context.Context, a args) (map[string]any, error) {
	fields, hasFields, err := a.strs("fields")
	if err != nil {
		return nil, err
	}
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	dir := set.DownloadDir
	if dir == "" {
		// "" is the daemon's own download dir.
		dir = h.downloadDir
	}
	m := map[string]any{
		"rpc-version":         RPCVersion,
		"rpc-version-minimum": RPCVersionMinimum,
		"rpc-version-semver":  RPCVersionSemver,
		"version":             Version,
		"session-id":          h.session,
		"download-dir":        dir,
		"peer-port":           set.PeerPort,
		// Limits: the one in force, or the one set while off.
		"speed-limit-down":         h.limitKB("down", set.DownloadRateLimit),
		"speed-limit-down-enabled": set.DownloadRateLimit > 0,
		"speed-limit-up":           h.limitKB("up", set.UploadRateLimit),
		"speed-limit-up-enabled":   set.UploadRateLimit > 0,
		"seedRatioLimit":           h.remembered("ratio", set.SeedRatioLimit),
		"seedRatioLimited":         set.SeedRatioLimit > 0,
		// Transmission's idle limit is Lodestone's: stop seeding after
		// that long without upload. (Lodestone's seed time limit has no
		// Transmission key.)
		"idle-seeding-limit":         int64(h.remembered("idle", float64(minutes(set.SeedIdleLimit)))),
		"idle-seeding-limit-enabled": set.SeedIdleLimit > 0,
		"download-queue-size":        int(h.remembered("dlq", float64(set.MaxActiveDownloads))),
		"download-queue-enabled":     set.MaxActiveDownloads > 0,
		"seed-queue-size":            int(h.remembered("seedq", float64(set.MaxActiveSeeds))),
		"seed-queue-enabled":         set.MaxActiveSeeds > 0,
		// What Lodestone does, in Transmission's words: added tasks
		// start unless paused; no incomplete dir or alternative speeds.
		"peer-limit-per-torrent": h.peers,
		// The network, as the daemon was started (serve --dht, --utp,
		// --upnp; the core's encryption policy).
		"dht-enabled":             h.network.DHT,
		"utp-enabled":             h.network.UTP,
		"port-forwarding-enabled": h.network.PortForwarding,
		"pex-enabled":             h.network.PEX,
		"encryption":              h.network.Encryption,
		"start-added-torrents":    true,
		"incomplete-dir-enabled":  false,
		"incomplete-dir":          "",
		"alt-speed-enabled":       false,
		"units": map[string]any{
			"speed-units":  []string{"kB/s", "MB/s", "GB/s", "TB/s"},
			"speed-bytes":  1000,
			"size-units":   []string{"kB", "MB", "GB", "TB"},
			"size-bytes":   1000,
			"memory-units": []string{"KiB", "MiB", "GiB", "TiB"},
			"memory-bytes": 1024,
		},
	}
	h.blocklistFields(set, m)
	if e := transmissionEncryption(set.Encryption); e != "" {
		// The policy in force (session.set may have changed it).
		m["encryption"] = e
	}
	if free, _, err := h.svc.DiskSpace(dir); err == nil {
		m["download-dir-free-space"] = free
	}
	if hasFields {
		want := map[string]bool{}
		for _, f := range fields {
			want[snake(f)] = true
		}
		for k := range m {
			if !want[snake(k)] {
				delete(m, k)
			}
		}
	}
	return m, nil
}

// numArg is a setting's value and switch, either absent.
type numArg struct {
	v         float64
	hasV      bool
	on, hasOn bool
}

func parseNum(a args, key, onKey string, whole bool) (numArg, error) {
	var n numArg
	var err error
	if whole {
		var i int64
		i, n.hasV, err = a.integer(key)
		n.v = float64(i)
	} else {
		n.v, n.hasV, err = a.number(key)
	}
	if err != nil {
		return n, err
	}
	if n.hasV && (n.v < 0 || n.v > 1<<40) {
		return n, invalid(key, "a number from 0")
	}
	if n.on, n.hasOn, err = a.boolean(onKey); err != nil {
		return n, err
	}
	return n, nil
}

// resolveNum returns a setting's new value in the client's units (0:
// off) given the current one, and whether it was asked to change.
// Lodestone holds one number per setting, 0 meaning off, where
// Transmission holds a value and a switch: a value set while the switch
// is off is remembered (under mem, for this run) and used when the switch
// is turned on, as Transmission would.
func (h *Handler) resolveNum(n numArg, mem string, cur float64) (float64, bool) {
	if !n.hasV && !n.hasOn {
		return cur, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	on := cur > 0
	if n.hasOn {
		on = n.on
	}
	val := cur
	if cur <= 0 {
		val = h.off[mem]
	}
	if n.hasV {
		val = n.v
	}
	if !on || val == 0 {
		if val > 0 {
			h.off[mem] = val
		}
		return 0, true
	}
	delete(h.off, mem)
	return val, true
}

// remembered is a setting as reported: the one in force, or the one
// remembered while it is off.
func (h *Handler) remembered(mem string, cur float64) float64 {
	if cur > 0 {
		return cur
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.off[mem]
}

// sessionSet sets the settings Lodestone has; the others are ignored, as
// Transmission ignores keys it does not know (docs/COMPAT.md lists them).
func (h *Handler) sessionSet(_ context.Context, a args) (map[string]any, error) {
	down, err := parseNum(a, "speed_limit_down", "speed_limit_down_enabled", true)
	if err != nil {
		return nil, err
	}
	up, err := parseNum(a, "speed_limit_up", "speed_limit_up_enabled", true)
	if err != nil {
		return nil, err
	}
	ratio, err := parseNum(a, "seed_ratio_limit", "seed_ratio_limited", false)
	if err != nil {
		return nil, err
	}
	idle, err := parseNum(a, "idle_seeding_limit", "idle_seeding_limit_enabled", true)
	if err != nil {
		return nil, err
	}
	dlq, err := parseNum(a, "download_queue_size", "download_queue_enabled", true)
	if err != nil {
		return nil, err
	}
	seedq, err := parseNum(a, "seed_queue_size", "seed_queue_enabled", true)
	if err != nil {
		return nil, err
	}
	dir, hasDir, err := a.str("download_dir")
	if err != nil {
		return nil, err
	}
	port, hasPort, err := a.integer("peer_port")
	if err != nil {
		return nil, err
	}
	if hasPort && (port < 1 || port > 65535) {
		return nil, invalid("peer_port", "a port from 1 to 65535")
	}
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	var p api.SessionSetParams
	if v, ok := h.resolveNum(down, "down", float64(set.DownloadRateLimit)/1000); ok {
		b := int64(v) * 1000
		p.DownloadRateLimit = &b
	}
	if v, ok := h.resolveNum(up, "up", float64(set.UploadRateLimit)/1000); ok {
		b := int64(v) * 1000
		p.UploadRateLimit = &b
	}
	if v, ok := h.resolveNum(ratio, "ratio", set.SeedRatioLimit); ok {
		p.SeedRatioLimit = &v
	}
	if v, ok := h.resolveNum(idle, "idle", float64(minutes(set.SeedIdleLimit))); ok {
		s := int64(v) * 60
		p.SeedIdleLimit = &s
	}
	if v, ok := h.resolveNum(dlq, "dlq", float64(set.MaxActiveDownloads)); ok {
		n := int(v)
		p.MaxActiveDownloads = &n
	}
	if v, ok := h.resolveNum(seedq, "seedq", float64(set.MaxActiveSeeds)); ok {
		n := int(v)
		p.MaxActiveSeeds = &n
	}
	if hasDir {
		p.DownloadDir = &dir
	}
	if hasPort {
		n := int(port)
		p.PeerPort = &n
	}
	if p.Blocklists, err = h.blocklistParams(a, set.Blocklists); err != nil {
		return nil, err
	}
	if err := encryptionParam(a, set.Encryption, &p); err != nil {
		return nil, err
	}
	if _, err := h.svc.SetSettings(p); err != nil {
		return nil, err
	}
	return nil, nil
}

// sessionStats reports Lodestone's counts in Transmission's form. The
// current stats are this run's (bytes since start, tasks added since
// start); the cumulative ones are what Lodestone keeps across restarts:
// the lifetime bytes of the tasks it has now, and their number. It does
// not count runs or the time of earlier ones: sessionCount is 1 and
// secondsActive this run's in both.
func (h *Handler) sessionStats(_ context.Context, _ args) (map[string]any, error) {
	st := h.svc.Stats()
	info, err := h.svc.Info()
	if err != nil {
		return nil, err
	}
	tasks := h.svc.List(service.ListFilter{})
	// The start, to the second: uptime and added_at are whole seconds,
	// so a second more is allowed for.
	started := time.Now().Add(-time.Duration(info.UptimeSeconds+1) * time.Second)
	active, paused, addedNow := 0, 0, 0
	var up, down int64
	for _, t := range tasks {
		if status(t) == statusStopped {
			paused++
		} else {
			active++
		}
		if at, err := time.Parse(time.RFC3339, t.AddedAt); err == nil && !at.Before(started.Truncate(time.Second)) {
			addedNow++
		}
		up += t.Uploaded
		down += t.Downloaded
	}
	return map[string]any{
		"activeTorrentCount": active,
		"pausedTorrentCount": paused,
		"torrentCount":       len(tasks),
		"downloadSpeed":      st.DownloadRate,
		"uploadSpeed":        st.UploadRate,
		"current-stats": map[string]any{
			"uploadedBytes":   st.Uploaded,
			"downloadedBytes": st.Downloaded,
			"filesAdded":      addedNow,
			"sessionCount":    1,
			"secondsActive":   info.UptimeSeconds,
		},
		"cumulative-stats": map[string]any{
			"uploadedBytes":   up,
			"downloadedBytes": down,
			"filesAdded":      len(tasks),
			"sessionCount":    1,
			"secondsActive":   info.UptimeSeconds,
		},
	}, nil
}

// sessionClose is refused: a remote client must not stop the daemon.
func (h *Handler) sessionClose(_ context.Context, _ args) (map[string]any, error) {
	return nil, failed(codeSystemError, "session-close is refused: Lodestone is stopped by its service manager, not over the RPC")
}

// portTest cannot be answered honestly: Transmission asks a web service
// of its project to connect back, and Lodestone contacts no outside
// service. The answer is Transmission's own when that service cannot be
// reached: an error, with no port-is-open.
func (h *Handler) portTest(_ context.Context, a args) (map[string]any, error) {
	proto, ok, err := a.str("ip_protocol")
	if err != nil {
		return nil, err
	}
	if ok && proto != "ipv4" && proto != "ipv6" {
		return nil, badArgs("invalid ip protocol string")
	}
	return nil, failed(codeHTTPError, "Couldn't test port: Lodestone does not contact an outside service to test its port")
}

// freeSpace reports the free and total space of a directory inside the
// download roots; any other path is refused (by the service), so the RPC
// cannot be used to probe the rest of the machine.
func (h *Handler) freeSpace(_ context.Context, a args) (map[string]any, error) {
	p, ok, err := a.str("path")
	if err != nil {
		return nil, err
	}
	if !ok || p == "" {
		return nil, badArgs("directory path argument is missing")
	}
	if !filepath.IsAbs(p) {
		return nil, failed(codePathNotAbsolute, "path is not absolute: %q", p)
	}
	free, total, err := h.svc.DiskSpace(p)
	if err != nil {
		return nil, failed(codeSystemError, "free-space: %s", strings.TrimPrefix(err.Error(), "invalid params: "))
	}
	return map[string]any{"path": p, "size-bytes": free, "total_size": total}, nil
}
