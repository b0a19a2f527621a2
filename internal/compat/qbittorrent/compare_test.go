package qbittorrent

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// allowed are the differences between what a client observes of Lodestone
// and of qbittorrent-nox 4.5.2 that docs/COMPAT.md ("Tested with real
// clients") lists with its reason. The key is the difference's id as
// compareObservations names it; the value says why, as COMPAT.md does.
// A difference not here fails the test, and so does an entry that no
// longer happens, so the list and the document stay true.
var allowed = map[string]string{
	// Lodestone presents itself as qBittorrent 5 (webapi 2.11): it serves
	// 5.0's torrents/stop and torrents/start beside pause and resume, and
	// names the stopped states 5.0's way. Sonarr, Radarr and
	// @ctrl/qbittorrent read both.
	"answer stopTorrent (v5 name)":  "qBittorrent 5's torrents/stop, which 4.5.2 does not have",
	"answer startTorrent (v5 name)": "qBittorrent 5's torrents/start, which 4.5.2 does not have",
	"state pausedDL is stoppedDL":   "qBittorrent 5's name of the state",
	// qBittorrent 5.2 names the missing parameters; 4.5.2 says "Bad
	// Request" (same status).
	"answer torrentProperties without hash": "qBittorrent 5.2's message for a missing parameter",
	"answer setShareLimits without limits":  "qBittorrent 5.2's message for a missing parameter",
	"export without hash":                   "qBittorrent 5.2's message for a missing parameter",
	// qBittorrent 5 sends a .torrent as application/x-bittorrent; 4.5.2
	// as text/plain.
	"export .torrent Content-Type": "qBittorrent 5's Content-Type of an exported .torrent",
	// A tag is Lodestone's label: it exists while a torrent has it, or
	// once torrents/createTags made it. qBittorrent keeps every tag it
	// was given (by add or addTags too) until deleteTags.
	"value tags": "a tag added with a torrent is gone once no torrent has it",
	// Lodestone keeps every download under its download roots.
	"answer createCategory outside the save path": "a save path outside the download roots is refused (409, with the reason)",
	// A category is where its torrents are, in Lodestone: a torrent added
	// with one is saved in the category's path even when the client asks
	// for manual management (useAutoTMM=false, which @ctrl/qbittorrent
	// always sends).
	"value magnet.save_path": "a torrent added with a category is saved in the category's path",

	// TestSonarrSequence.
	"sonarr (GetItems: single.bin Completed, multi Completed, held.bin Paused; force-started one forced: true)": "" +
		"Lodestone has no forced start past the queue: setForceStart resumes, and the state is never forcedUP",
	`sonarr POST torrents/delete → 400 "Bad Request"`: "delete without deleteFiles keeps the data; " +
		"qBittorrent answers 400, so Sonarr's remove without data fails against it",

	// TestSecurity.
	"security GET to a rebound Host":   "the API's own Host gate answers: 403 with its JSON error",
	"security login to a rebound Host": "the API's own Host gate answers: 403 with its JSON error",
	"security wrong password with a live cookie": "qBittorrent answers Ok. to a login from a client " +
		"with a live session whatever the password; Lodestone checks the password",
	"security wrong password 6": "the API's backoff: 5 wrong passwords are free, the 6th starts the wait " +
		"and the 7th is refused with qBittorrent's ban message (qBittorrent refuses the 6th)",
	"security right password after the failures": "Lodestone never locks out its token: the right one " +
		"passes during the wait; qBittorrent bans the address for an hour",
}

// preferenceKeys are the app/preferences keys compared: those Sonarr and
// Radarr read (QBittorrentPreferences.cs) and the default save path.
var preferenceKeys = []string{"save_path", "dht", "queueing_enabled", "max_ratio_enabled", "max_ratio",
	"max_seeding_time_enabled", "max_seeding_time", "max_ratio_act"}

// differences lists how lod differs from ref, each as an id and what was
// seen.
func differences(ref, lod *observation) map[string]string {
	diff := map[string]string{}
	// Fields present and their JSON types, of every object the client
	// reads; fields Lodestone has and 4.5.2 does not are not differences
	// (newer qBittorrents have them too).
	kinds := map[string][2]map[string]string{
		"torrent":      {ref.Types["torrent"], lod.Types["torrent"]},
		"properties":   {ref.Types["properties"], lod.Types["properties"]},
		"file":         {ref.Types["file"], lod.Types["file"]},
		"tracker":      {ref.Types["tracker"], lod.Types["tracker"]},
		"sync.torrent": {ref.Sync.Full.Torrent, lod.Sync.Full.Torrent},
		"server_state": {ref.Sync.Full.ServerState, lod.Sync.Full.ServerState},
	}
	prefs := [2]map[string]string{{}, {}}
	for _, k := range preferenceKeys {
		if v, ok := ref.Types["preferences"][k]; ok {
			prefs[0][k] = v
		}
		if v, ok := lod.Types["preferences"][k]; ok {
			prefs[1][k] = v
		}
	}
	kinds["preferences"] = prefs
	for kind, pair := range kinds {
		for field, want := range pair[0] {
			got, ok := pair[1][field]
			switch {
			case !ok:
				diff[fmt.Sprintf("%s.%s missing", kind, field)] = "qbittorrent-nox: " + want
			case got != want:
				diff[fmt.Sprintf("%s.%s type", kind, field)] = fmt.Sprintf("%s, qbittorrent-nox: %s", got, want)
			}
		}
	}
	for _, k := range ref.Sync.Full.Keys {
		if !slices.Contains(lod.Sync.Full.Keys, k) {
			diff["sync.full."+k+" missing"] = ""
		}
	}

	// Steps: what succeeds on one succeeds on the other.
	ok := map[string]bool{}
	for _, s := range ref.Steps {
		ok[s.Name] = s.OK
	}
	for _, s := range lod.Steps {
		if r, seen := ok[s.Name]; seen && r != s.OK {
			diff["step "+s.Name] = fmt.Sprintf("ok %v, qbittorrent-nox ok %v: %s", s.OK, r, s.Error)
		}
	}

	// Error answers: status and body.
	for _, name := range slices.Sorted(maps.Keys(ref.Errors)) {
		r, l := ref.Errors[name], lod.Errors[name]
		if fmt.Sprint(r) != fmt.Sprint(l) {
			diff["answer "+name] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}

	// The kinds of state each torrent went through (the transient ones,
	// whose sighting is a matter of timing, left out).
	for _, hash := range slices.Sorted(maps.Keys(ref.States)) {
		r, l := stateKinds(ref.States[hash]), stateKinds(lod.States[hash])
		if !slices.Equal(r, l) {
			diff["states of "+hash] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}
	// States at the same points of the session.
	if r, l := ref.PausedTorrent["state"], lod.PausedTorrent["state"]; r != l {
		diff[fmt.Sprintf("state %v is %v", r, l)] = "the paused .torrent"
	}
	// Values the client shows of the same torrents.
	for _, k := range []string{"tags", "category", "eta", "priority", "auto_tmm", "ratio_limit", "seeding_time_limit"} {
		if r, l := ref.PausedTorrent[k], lod.PausedTorrent[k]; fmt.Sprint(r) != fmt.Sprint(l) {
			diff["value torrent."+k] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}
	for _, k := range []string{"label", "state", "isCompleted"} {
		if r, l := ref.GetTorrent[k], lod.GetTorrent[k]; fmt.Sprint(r) != fmt.Sprint(l) {
			diff["value normalized."+k] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}
	// Where the magnet, added with a category and useAutoTMM=false (as
	// @ctrl/qbittorrent always sends), is saved: the default save path
	// or the category's.
	if r, l := filepath.Base(trimSlash(ref.MagnetTorrent["save_path"])), filepath.Base(trimSlash(lod.MagnetTorrent["save_path"])); r != l {
		diff["value magnet.save_path"] = fmt.Sprintf("…/%s, qbittorrent-nox: …/%s", l, r)
	}
	if !slices.Equal(ref.Tags, lod.Tags) {
		diff["value tags"] = fmt.Sprintf("%v, qbittorrent-nox: %v", lod.Tags, ref.Tags)
	}
	for _, k := range preferenceKeys {
		if k == "save_path" {
			continue
		}
		if r, l := ref.Preferences[k], lod.Preferences[k]; fmt.Sprint(r) != fmt.Sprint(l) {
			diff["value preferences."+k] = fmt.Sprintf("%v, qbittorrent-nox: %v", l, r)
		}
	}
	// qBittorrent sends its tags in no particular order.
	if !slices.Equal(sorted(ref.Sync.Full.Tags...), sorted(lod.Sync.Full.Tags...)) {
		diff["value sync.tags"] = fmt.Sprintf("%v, qbittorrent-nox: %v", lod.Sync.Full.Tags, ref.Sync.Full.Tags)
	}
	return diff
}

// stateKinds are the kinds of the states seen, sorted: the stopped
// states by either name, the active ones whether stalled or not; a
// check, a metadata fetch, a move or a download in progress may pass
// between two polls unseen, so they are left out.
func stateKinds(seq []string) []string {
	kinds := map[string]bool{}
	for _, s := range seq {
		switch s {
		case "pausedDL", "stoppedDL":
			kinds["stoppedDL"] = true
		case "pausedUP", "stoppedUP":
			kinds["stoppedUP"] = true
		case "uploading", "stalledUP", "forcedUP":
			kinds["seeding"] = true
		case "queuedDL", "queuedUP", "error", "missingFiles", "unknown":
			kinds[s] = true
		}
	}
	return slices.Sorted(maps.Keys(kinds))
}

// compareObservations fails t for every difference not allowed, and for
// every allowed one of the client session that did not happen.
func compareObservations(t *testing.T, ref, lod *observation) {
	t.Helper()
	checkDiffs(t, differences(ref, lod), func(id string) bool {
		return !strings.HasPrefix(id, "security ") && !strings.HasPrefix(id, "sonarr ") && !strings.HasPrefix(id, "export ")
	})
}

// checkDiffs fails t for every difference in diff that is not allowed,
// and for every allowed one in scope that is not in diff.
func checkDiffs(t *testing.T, diff map[string]string, scope func(id string) bool) {
	t.Helper()
	for _, id := range slices.Sorted(maps.Keys(diff)) {
		if _, ok := allowed[id]; !ok {
			t.Errorf("difference not in docs/COMPAT.md: %s: %s", id, diff[id])
		}
	}
	for _, id := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := diff[id]; scope(id) && !ok {
			t.Errorf("allowed difference %q no longer happens: remove it from the allow-list and docs/COMPAT.md", id)
		}
	}
}
