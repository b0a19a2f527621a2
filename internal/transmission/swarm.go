package transmission

import (
	"mime"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

// The swarm's fields of torrent-get: peers, trackers, and what is derived
// from the files.

// peersField renders the connected peers as Transmission's peers. The
// flag string has the letters Transmission uses for what Lodestone
// knows: D downloading from, U uploading to, T uTP, I incoming, H found
// by DHT, X found by PEX. Whether a connection is encrypted, and who
// chokes whom, Lodestone does not report: false.
func peersField(ps []api.TaskPeer) []map[string]any {
	out := make([]map[string]any, len(ps))
	for i, p := range ps {
		host, portS, err := net.SplitHostPort(p.Address)
		if err != nil {
			host = p.Address
		}
		port, _ := strconv.Atoi(portS)
		utp := slices.Contains(p.Flags, "utp")
		incoming := slices.Contains(p.Flags, "incoming")
		var flags strings.Builder
		for _, f := range []struct {
			on bool
			c  byte
		}{
			{p.DownloadRate > 0, 'D'}, {p.UploadRate > 0, 'U'}, {utp, 'T'}, {incoming, 'I'},
			{p.Source == "dht", 'H'}, {p.Source == "pex", 'X'},
		} {
			if f.on {
				flags.WriteByte(f.c)
			}
		}
		out[i] = map[string]any{
			"address":            host,
			"port":               port,
			"clientName":         p.Client,
			"progress":           p.Progress,
			"rateToClient":       p.DownloadRate,
			"rateToPeer":         p.UploadRate,
			"flagStr":            flags.String(),
			"isEncrypted":        false,
			"isIncoming":         incoming,
			"isUTP":              utp,
			"isDownloadingFrom":  p.DownloadRate > 0,
			"isUploadingTo":      p.UploadRate > 0,
			"clientIsChoked":     false,
			"clientIsInterested": false,
			"peerIsChoked":       false,
			"peerIsInterested":   false,
		}
	}
	return out
}

// peersFrom counts the connected peers by how they were found.
func peersFrom(ps []api.TaskPeer) map[string]any {
	n := map[string]int{}
	for _, p := range ps {
		n[p.Source]++
	}
	return map[string]any{
		"fromCache":    0,
		"fromDht":      n["dht"],
		"fromIncoming": n["incoming"],
		"fromLpd":      n["lan"],
		"fromLtep":     0,
		"fromPex":      n["pex"],
		"fromTracker":  n["tracker"],
	}
}

// scrapeURL is an HTTP tracker's scrape URL, by the convention of BEP 48
// (the last path element "announce" becomes "scrape"); "" if there is
// none.
func scrapeURL(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return ""
	}
	if u.Scheme == "udp" {
		return announce
	}
	dir, file := path.Split(u.Path)
	if !strings.HasPrefix(file, "announce") {
		return ""
	}
	u.Path = dir + "scrape" + strings.TrimPrefix(file, "announce")
	return u.String()
}

// sitename is the tracker's site as Transmission names it: the host's
// label before its top-level domain ("tracker.example.org" → "example"),
// or the host itself when it has no dots (an IP literal included).
func sitename(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return host
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return host
	}
	return labels[len(labels)-2]
}

// Transmission's tracker announce states (tr_tracker_state).
const (
	trackerInactive = 0
	trackerWaiting  = 1
)

// trackerStats renders the trackers as Transmission's trackerStats. Every
// tracker is its own tier (Lodestone announces to all of them); the ids
// are the indices, which trackerRemove takes.
func trackerStats(ts []api.TaskTracker) []map[string]any {
	out := make([]map[string]any, len(ts))
	for i, tr := range ts {
		host := ""
		if u, err := url.Parse(tr.URL); err == nil {
			host = u.Host
		}
		result := ""
		switch tr.Status {
		case "working":
			result = "Success"
		case "error":
			result = tr.LastError
		}
		state := trackerInactive
		if tr.NextAnnounce != "" {
			state = trackerWaiting
		}
		out[i] = map[string]any{
			"id":                    i,
			"announce":              tr.URL,
			"scrape":                scrapeURL(tr.URL),
			"host":                  host,
			"sitename":              sitename(tr.URL),
			"tier":                  i,
			"isBackup":              false,
			"announceState":         state,
			"hasAnnounced":          tr.LastAnnounce != "",
			"lastAnnounceTime":      unix(tr.LastAnnounce),
			"lastAnnounceStartTime": unix(tr.LastAnnounce),
			"lastAnnounceResult":    result,
			"lastAnnounceSucceeded": tr.Status == "working",
			"lastAnnounceTimedOut":  false,
			"lastAnnouncePeerCount": 0,
			"nextAnnounceTime":      unix(tr.NextAnnounce),
			"seederCount":           tr.Seeders,
			"leecherCount":          tr.Leechers,
			"downloadCount":         -1,
			"hasScraped":            false,
			"scrapeState":           trackerInactive,
			"lastScrapeTime":        0,
			"lastScrapeStartTime":   0,
			"lastScrapeResult":      "",
			"lastScrapeSucceeded":   false,
			"lastScrapeTimedOut":    false,
			"nextScrapeTime":        0,
		}
	}
	return out
}

// primaryMIME is the MIME type of the task's largest share of bytes by
// file extension, as Transmission reports it; "application/octet-stream"
// when unknown.
func primaryMIME(fs []api.TaskFile) string {
	by := map[string]int64{}
	for _, f := range fs {
		t := mime.TypeByExtension(strings.ToLower(path.Ext(f.Path)))
		if t == "" {
			t = "application/octet-stream"
		}
		t, _, _ = strings.Cut(t, ";")
		by[t] += f.Size
	}
	best, size := "application/octet-stream", int64(-1)
	for t, n := range by {
		if n > size || (n == size && t < best) {
			best, size = t, n
		}
	}
	return best
}
