package transmission_test

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// refFields are the torrent-get fields Transmission 3.00 serves (its
// libtransmission/rpcimpl.c, initField), and the two spellings of the file
// count that Sonarr and Radarr ask for (Transmission 4's file-count, Vuze's
// fileCount), which 3.00 answers with 0.
var refFields = []string{
	"activityDate", "addedDate", "bandwidthPriority", "comment", "corruptEver", "creator", "dateCreated",
	"desiredAvailable", "doneDate", "downloadDir", "downloadedEver", "downloadLimit", "downloadLimited",
	"editDate", "error", "errorString", "eta", "etaIdle", "files", "fileStats", "hashString", "haveUnchecked",
	"haveValid", "honorsSessionLimits", "id", "isFinished", "isPrivate", "isStalled", "labels",
	"leftUntilDone", "magnetLink", "manualAnnounceTime", "maxConnectedPeers", "metadataPercentComplete",
	"name", "peer-limit", "peers", "peersConnected", "peersFrom", "peersGettingFromUs", "peersSendingToUs",
	"percentDone", "pieces", "pieceCount", "pieceSize", "priorities", "queuePosition", "rateDownload",
	"rateUpload", "recheckProgress", "secondsDownloading", "secondsSeeding", "seedIdleLimit", "seedIdleMode",
	"seedRatioLimit", "seedRatioMode", "sizeWhenDone", "startDate", "status", "torrentFile", "totalSize",
	"trackers", "trackerStats", "uploadedEver", "uploadLimit", "uploadLimited", "uploadRatio", "wanted",
	"webseeds", "webseedsSendingToUs", "file-count", "fileCount",
}

// allowed are the differences from transmission-daemon 3.00 that Lodestone
// keeps on purpose, each with its reason; docs/COMPAT.md ("Tested with
// real clients") lists the same. A difference found and not listed here
// fails TestSideBySide. Keys: "field NAME" (a torrent-get field absent
// or of another JSON type; NAME.KEY for a key of its objects), "error
// CASE" (another result string), "status PHASE" (another status at the
// end of a phase).
var allowed = map[string]string{
	"field trackers.sitename":     "Transmission 4's key, which 3.00 does not have",
	"field trackerStats.sitename": "Transmission 4's key, which 3.00 does not have",
	"error get ids object":        "Transmission 3.00 ignores ids of a wrong type and acts on every torrent; Lodestone refuses them (invalid argument) so that a client's mistake shows",
	"error not json":              "Transmission 3.00 answers a body it cannot parse \"no method name\"; Lodestone says \"couldn't parse JSON\", which is what happened (Transmission 4.1's JSON-RPC answers a Parse error)",
	"error add relative dir":      "Lodestone reads a relative download-dir against its download dir, as its own task.add does (the result must still lie in a download root); Transmission refuses it",
	"error free-space relative":   "the same refusal, worded with the path: \"path is not absolute: …\"",
	"error set-location relative": "the same refusal, with the path appended",

	// session-get keys of settings Lodestone does not have.
	"session rpc-version-semver":           "Transmission 4's key, which 3.00 does not have",
	"session alt-speed-time-begin":         "no alternative speeds, so no schedule for them",
	"session alt-speed-time-day":           "no alternative speeds, so no schedule for them",
	"session alt-speed-time-enabled":       "no alternative speeds, so no schedule for them",
	"session alt-speed-time-end":           "no alternative speeds, so no schedule for them",
	"session cache-size-mb":                "no write cache setting",
	"session config-dir":                   "the data dir is not told to RPC clients",
	"session queue-stalled-enabled":        "no rule that lets a stalled download out of the queue",
	"session queue-stalled-minutes":        "no rule that lets a stalled download out of the queue",
	"session rename-partial-files":         "Lodestone writes no .part files",
	"session script-torrent-done-enabled":  "no scripts",
	"session script-torrent-done-filename": "no scripts",
	"session trash-original-torrent-files": "no watch folder",
	"session peer-port-random-on-start":    "the peer port is the one configured",
	"session lpd-enabled":                  "no local peer discovery",

	// Pending: reported to be served (Lodestone has these settings or a
	// value for them), listed until they are.
	"session alt-speed-down":    "pending: alt-speed-enabled is served, so its two limits should be (transmission-remote -si prints its LIMITS only with all of them)",
	"session alt-speed-up":      "pending: as alt-speed-down",
	"session peer-limit-global": "pending: Lodestone's connection cap (transmission-remote -si needs it for LIMITS)",
}

// jsonType names the JSON type of a raw value ("absent" for none).
func jsonType(raw json.RawMessage, ok bool) string {
	if !ok {
		return "absent"
	}
	switch s := strings.TrimSpace(string(raw)); {
	case s == "null":
		return "null"
	case s == "true" || s == "false":
		return "boolean"
	case strings.HasPrefix(s, `"`):
		return "string"
	case strings.HasPrefix(s, "["):
		return "array"
	case strings.HasPrefix(s, "{"):
		return "object"
	default:
		return "number"
	}
}

// shape maps each field to its JSON type, and each key of the objects in
// an array field (files, fileStats, trackers…) or an object field
// (peersFrom) to its type, as "field.key".
func shape(obj map[string]json.RawMessage, fields []string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		raw, ok := obj[f]
		out[f] = jsonType(raw, ok)
		var elems []map[string]json.RawMessage
		var one map[string]json.RawMessage
		if json.Unmarshal(raw, &elems) == nil && len(elems) > 0 {
			one = elems[0]
		} else if json.Unmarshal(raw, &one) != nil {
			one = nil
		}
		for k, v := range one {
			out[f+"."+k] = jsonType(v, true)
		}
	}
	return out
}

// observed is what one server answered to the side-by-side script.
type observed struct {
	errors   map[string]string            // case → result
	shapes   map[string]map[string]string // phase → field → type
	statuses map[string][]int             // phase → distinct statuses seen, in order
}

// sideBySide runs the same requests against srv and records the answers.
// extra are two torrents no peer has, for the queue; rel one to add into
// a relative folder (refused).
func sideBySide(t *testing.T, sw *swarm, srv *server, extra []*enginetest.Torrent, rel *enginetest.Torrent) observed {
	c := newRPC(t, srv)
	o := observed{errors: map[string]string{}, shapes: map[string]map[string]string{}, statuses: map[string][]int{}}
	dl := filepath.Join(srv.downloadDir, "side")
	meta := base64.StdEncoding.EncodeToString(sw.multi.MetaInfo)
	var added struct {
		Added struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	c.ok("torrent-add", map[string]any{"metainfo": meta, "download-dir": dl, "paused": true}, &added)
	id := added.Added.ID
	// A second, single-file torrent downloads beside it, for the seed
	// queue.
	c.ok("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(sw.single.MetaInfo), "download-dir": dl, "paused": true}, &added)
	id2 := added.Added.ID

	var sess map[string]json.RawMessage
	c.ok("session-get", nil, &sess)
	o.shapes["session-get"] = shape(sess, slices.Collect(maps.Keys(sess)))
	for name, req := range map[string]string{
		"unknown method":        `{"method":"no-such-method"}`,
		"get without fields":    `{"method":"torrent-get","arguments":{}}`,
		"get unknown id":        `{"method":"torrent-get","arguments":{"fields":["id"],"ids":[9999]}}`,
		"get unknown hash":      `{"method":"torrent-get","arguments":{"fields":["id"],"ids":["0000000000000000000000000000000000000000"]}}`,
		"get ids object":        `{"method":"torrent-get","arguments":{"fields":["id"],"ids":{"x":1}}}`,
		"add duplicate":         `{"method":"torrent-add","arguments":{"metainfo":"` + meta + `","paused":true}}`,
		"add nothing":           `{"method":"torrent-add","arguments":{}}`,
		"add corrupt":           `{"method":"torrent-add","arguments":{"metainfo":"bm90IGEgdG9ycmVudA=="}}`,
		"add relative dir":      `{"method":"torrent-add","arguments":{"metainfo":"` + base64.StdEncoding.EncodeToString(rel.MetaInfo) + `","download-dir":"relative/dir","paused":true}}`,
		"stop unknown id":       `{"method":"torrent-stop","arguments":{"ids":[9999]}}`,
		"set-location nothing":  fmt.Sprintf(`{"method":"torrent-set-location","arguments":{"ids":[%d]}}`, id),
		"set-location relative": fmt.Sprintf(`{"method":"torrent-set-location","arguments":{"ids":[%d],"location":"rel","move":true}}`, id),
		"free-space relative":   `{"method":"free-space","arguments":{"path":"rel"}}`,
		"not json":              `{"method":`,
	} {
		var r reply
		b := c.raw(req)
		if err := json.Unmarshal(b, &r); err != nil {
			t.Errorf("%s: %s: answer is not JSON: %s", srv.name, name, b)
		}
		o.errors[name] = r.Result
		if strings.HasPrefix(r.Result, "couldn't parse JSON") {
			// The parser's own words follow; the prefix is the contract.
			o.errors[name] = "couldn't parse JSON"
		}
	}

	// watch polls the torrent's status every 50 ms until it is want and
	// stays so for 3 polls, recording every distinct status seen.
	watch := func(phase string, want int) {
		var seen []int
		stable := 0
		waitFor(t, srv.name+": "+phase, 60*time.Second, func() bool {
			st := c.status(sw.multi.InfoHash)
			if len(seen) == 0 || seen[len(seen)-1] != st {
				seen = append(seen, st)
			}
			if st == want {
				stable++
			} else {
				stable = 0
			}
			return stable >= 3
		})
		o.statuses[phase] = seen
	}
	shapeNow := func(phase string) {
		ts := c.torrents([]int{id}, refFields...)
		if len(ts) != 1 {
			t.Fatalf("%s: torrent-get of id %d: %d torrents", srv.name, id, len(ts))
		}
		o.shapes[phase] = shape(ts[0], refFields)
	}
	watch("added paused", 0)
	shapeNow("paused")
	c.ok("torrent-start", map[string]any{"ids": []int{id, id2}}, nil)
	watch("download", 6)
	shapeNow("seeding")
	c.ok("torrent-stop", map[string]any{"ids": []int{id}}, nil)
	watch("stop", 0)
	c.ok("torrent-verify", map[string]any{"ids": []int{id}}, nil)
	watch("verify stopped", 0)

	// both waits until the two torrents' statuses, sorted, are want.
	both := func(phase string, want ...int) {
		var got []int
		waitFor(t, srv.name+": "+phase, 60*time.Second, func() bool {
			got = []int{c.status(sw.multi.InfoHash), c.status(sw.single.InfoHash)}
			slices.Sort(got)
			return slices.Equal(got, want)
		})
		o.statuses[phase] = got
	}
	// The seed queue: of two complete torrents started, one seeds (6)
	// and the other waits for its turn (5).
	both("second download", 0, 6)
	c.ok("torrent-stop", map[string]any{"ids": []int{id2}}, nil)
	both("both stopped", 0, 0)
	if r := c.call("session-set", map[string]any{"seed-queue-enabled": true, "seed-queue-size": 1}); r.Result != "success" {
		t.Errorf("%s: session-set of the seed queue: %q", srv.name, r.Result)
	}
	c.ok("torrent-start", map[string]any{"ids": []int{id, id2}}, nil)
	both("seed queue", 5, 6)
	c.ok("session-set", map[string]any{"seed-queue-enabled": false}, nil)
	c.ok("torrent-remove", map[string]any{"ids": []int{id2}, "delete-local-data": true}, nil)

	// The download queue: of two torrents that no peer has, one
	// downloads (4) and the other waits for its turn (3).
	if r := c.call("session-set", map[string]any{"download-queue-enabled": true, "download-queue-size": 1}); r.Result != "success" {
		t.Errorf("%s: session-set of the download queue: %q", srv.name, r.Result)
		c.ok("torrent-remove", map[string]any{"ids": []int{id}, "delete-local-data": true}, nil)
		return o
	}
	var ids []int
	for _, tr := range extra {
		var a struct {
			Added struct {
				ID int `json:"id"`
			} `json:"torrent-added"`
		}
		c.ok("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(tr.MetaInfo), "download-dir": dl}, &a)
		ids = append(ids, a.Added.ID)
	}
	var queued []int
	waitFor(t, srv.name+": queue", 30*time.Second, func() bool {
		queued = queued[:0]
		for _, tr := range extra {
			queued = append(queued, c.status(tr.InfoHash))
		}
		slices.Sort(queued)
		return slices.Equal(queued, []int{3, 4})
	})
	o.statuses["queue"] = queued
	c.ok("torrent-remove", map[string]any{"ids": ids, "delete-local-data": true}, nil)
	c.ok("session-set", map[string]any{"download-queue-enabled": false}, nil)
	c.ok("torrent-remove", map[string]any{"ids": []int{id}, "delete-local-data": true}, nil)
	return o
}

// TestSideBySide sends the same requests to Lodestone and to
// transmission-daemon 3.00 and compares what a client sees: the result
// strings of error cases, which torrent-get fields are there and their
// JSON types (paused, and seeding after a real download), and the status
// values through a download, a stop, a verify, the download queue and the
// seed queue.
// Every difference must be in the allow-list (and docs/COMPAT.md) with its
// reason.
func TestSideBySide(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 31)
	extra := []*enginetest.Torrent{
		enginetest.Generate(t, enginetest.Content{Name: "queued-1.bin", Size: 50_000, Seed: 32}),
		enginetest.Generate(t, enginetest.Content{Name: "queued-2.bin", Size: 50_000, Seed: 33}),
	}
	rel := enginetest.Generate(t, enginetest.Content{Name: "relative.bin", Size: 50_000, Seed: 34})
	got := map[string]observed{}
	for _, mk := range []func(testing.TB) *server{startLodestone, startTransmission} {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			sw.serve(t, srv)
			got[srv.name] = sideBySide(t, sw, srv, extra, rel)
		})
	}
	lode, ref := got[lodestone], got[transmission]
	if lode.errors == nil || ref.errors == nil {
		t.Fatal("a side did not finish")
	}
	diff := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(ref.errors)) {
		if lode.errors[k] != ref.errors[k] {
			diff["error "+k] = fmt.Sprintf("Lodestone %q, transmission-daemon %q", lode.errors[k], ref.errors[k])
		}
	}
	for _, phase := range slices.Sorted(maps.Keys(ref.shapes)) {
		l, r := lode.shapes[phase], ref.shapes[phase]
		kind := "field "
		if phase == "session-get" {
			kind = "session "
		}
		// The keys of a field's objects are compared when both sides
		// have some (a peer list may be empty on one side).
		hasKeys := func(m map[string]string, field string) bool {
			for k := range m {
				if strings.HasPrefix(k, field+".") {
					return true
				}
			}
			return false
		}
		for _, f := range slices.Sorted(maps.Keys(r)) {
			lt := cmp.Or(l[f], "absent")
			if parent, _, sub := strings.Cut(f, "."); sub {
				if !hasKeys(l, parent) {
					continue
				}
			}
			if lt != r[f] {
				diff[kind+f] = fmt.Sprintf("%s: Lodestone %s, transmission-daemon %s", phase, lt, r[f])
			}
		}
		for _, f := range slices.Sorted(maps.Keys(l)) {
			if parent, _, sub := strings.Cut(f, "."); sub && !hasKeys(r, parent) {
				continue
			}
			if _, ok := r[f]; !ok {
				diff[kind+f] = fmt.Sprintf("%s: Lodestone %s, transmission-daemon has no such key", phase, l[f])
			}
		}
	}
	// The statuses a phase may pass through, by Transmission's rules
	// (rpc-spec's status table): which ones a poll catches depends on
	// timing, so each side's trail is checked against these, and the
	// reference's passing the same check proves them. A trail may also
	// start with the status the previous phase ended in.
	phases := map[string]struct {
		prev int
		may  []int
	}{
		"added paused":    {-1, []int{0, 1, 2}},      // checked, then stopped
		"download":        {0, []int{1, 2, 3, 4, 6}}, // perhaps checked or queued, downloading, seeding
		"stop":            {6, []int{0}},
		"verify stopped":  {0, []int{1, 2}},  // check-wait, checking, back to stopped
		"queue":           {-1, []int{3, 4}}, // one downloads, one waits
		"second download": {-1, []int{0, 6}},
		"both stopped":    {-1, []int{0}},
		"seed queue":      {-1, []int{5, 6}}, // one seeds, one waits
	}
	for _, phase := range slices.Sorted(maps.Keys(ref.statuses)) {
		l, r := lode.statuses[phase], ref.statuses[phase]
		if len(l) == 0 || len(r) == 0 || l[len(l)-1] != r[len(r)-1] {
			diff["status "+phase] = fmt.Sprintf("Lodestone ends in %v, transmission-daemon in %v", l, r)
		}
		for side, trail := range map[string][]int{"Lodestone": l, "transmission-daemon": r} {
			for i, st := range trail {
				if !slices.Contains(phases[phase].may, st) && st != phases[phase].prev && !(i == len(trail)-1) {
					diff["status "+phase] = fmt.Sprintf("%s passes through %v (%v), not a status of this phase", side, st, trail)
				}
			}
		}
		t.Logf("statuses %s: Lodestone %v, transmission-daemon %v", phase, l, r)
	}
	for _, k := range slices.Sorted(maps.Keys(diff)) {
		if reason, ok := allowed[k]; ok {
			t.Logf("allowed: %s: %s (%s)", k, diff[k], reason)
			continue
		}
		t.Errorf("%s: %s", k, diff[k])
	}
	// An entry no difference needs is stale: the list (and COMPAT.md)
	// must say what Lodestone does now.
	for _, k := range slices.Sorted(maps.Keys(allowed)) {
		if _, ok := diff[k]; !ok {
			t.Errorf("allow-list entry %q matches no difference any more: remove it, and its line in docs/COMPAT.md", k)
		}
	}
}
