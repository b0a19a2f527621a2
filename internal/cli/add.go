package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const addUsage = `usage: lodestone add [flags] <magnet-uri | URL | file.torrent | info-hash>...

Adds a task for each argument and prints "added <task_id> <name>" for each
(with --json, the task.add result). An argument starting with "magnet:" is a
magnet URI; one starting with "http://" or "https://" is the URL of a
.torrent file, which the daemon fetches (URLs leading to loopback or private
addresses are refused unless it runs with --allow-private-urls); a bare
info-hash (40 hex digits or 32 base32 characters) is added as a magnet of
that hash, which finds peers through the DHT; anything else is the path of
a local .torrent file. Adding a task that exists
already prints the existing task.

--label gives each task that label (repeatable): a new task is added with
its labels, and a task that existed already has its labels replaced.

--paused, --metadata-only, --files, --download-dir and --category apply
to new tasks only. --metadata-only adds a task paused with nothing
downloaded: a magnet still fetches its metadata, so "lodestone set" can
choose its files before "lodestone resume". --files downloads only the
listed files, by their indices as "lodestone files" shows them (from 0),
and skips the others; for a magnet the indices are checked when its
metadata arrives, and if one is out of range every file is downloaded
(the daemon sends an engine.alert).
--download-dir is absolute, or relative to the daemon's download dir, and
must lie inside one of the daemon's download roots. --category puts the
task in that category ("lodestone category"), which must exist: without
--download-dir the data goes to the category's save path.
--node, in a cluster, places the task on that node ("lodestone cluster
status" lists them) instead of letting the cluster choose; it fails
(no_node) when the node is not live.
`

// addSource is one argument of add, ready to send.
type addSource struct {
	arg    string
	params api.TaskAddParams
}

func runAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("add")
	var common commonFlags
	common.register(fs)
	var labels stringList
	fs.Var(&labels, "label", "give the task this `label` (repeatable)")
	paused := fs.Bool("paused", false, "add the task paused: it does not start until resumed")
	metadataOnly := fs.Bool("metadata-only", false, "add the task paused with nothing downloaded; a magnet still fetches its metadata, so files can be chosen before resuming")
	var files indexList
	fs.Var(&files, "files", "download only these files: comma-separated `indices`, e.g. 0,2,5 (repeatable)")
	downloadDir := fs.String("download-dir", "", "put the data in this `dir` (default: the daemon's download dir)")
	category := fs.String("category", "", "put the task in this `category` (it must exist)")
	node := fs.String("node", "", "in a cluster: place the task on this `node` (default: the cluster chooses)")
	pos, err := e.parse(fs, args, addUsage)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("nothing to add: give a magnet URI or a .torrent file")
	}
	for _, l := range labels.values {
		if strings.TrimSpace(l) == "" {
			return usagef("--label: a label must not be empty")
		}
	}
	// Check and read every argument before adding any.
	srcs := make([]addSource, 0, len(pos))
	for _, a := range pos {
		src, err := readAddSource(a)
		if err != nil {
			return err
		}
		src.params.Paused = *paused
		src.params.MetadataOnly = *metadataOnly
		src.params.Labels = labels.values
		src.params.Files = files.values
		src.params.DownloadDir = *downloadDir
		src.params.Category = *category
		src.params.Node = *node
		srcs = append(srcs, src)
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, src := range srcs {
		var raw json.RawMessage
		if err := c.Call(ctx, api.MethodTaskAdd, src.params, &raw); err != nil {
			return fmt.Errorf("add %s: %w", src.arg, err)
		}
		var res api.TaskAddResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("add %s: decode result: %w", src.arg, err)
		}
		// task.add labels only a new task: replace the labels of one that
		// existed already (for a new one this changes nothing).
		if labels.set {
			ls := labels.values
			if _, err := c.SetTask(ctx, api.TaskSetParams{TaskID: res.TaskID, Labels: &ls}); err != nil {
				return fmt.Errorf("label %s: %w", res.TaskID, err)
			}
		}
		if common.json {
			if err := printJSON(e.stdout, raw); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(e.stdout, "added %s %s\n", res.TaskID, sanitize(res.Name))
	}
	return nil
}

// readAddSource classifies arg as a magnet URI, an http(s) URL of a
// .torrent (fetched by the daemon), a bare info-hash (40 hex digits or 32
// base32 characters, made into a magnet as the web UI does) or a local
// .torrent file, reading the file. An argument that is none of these says
// what was expected rather than only "no such file".
func readAddSource(arg string) (addSource, error) {
	trimmed := strings.TrimSpace(arg)
	lower := strings.ToLower(trimmed)
	switch {
	case strings.HasPrefix(lower, "magnet:"):
		return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeMagnet, Data: trimmed}}, nil
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeURL, Data: trimmed}}, nil
	case isInfoHash(trimmed):
		return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + trimmed}}, nil
	}
	b, err := os.ReadFile(arg)
	if errors.Is(err, fs.ErrNotExist) {
		return addSource{}, usagef("not a magnet URI, http(s) URL, .torrent file or info-hash: %s", arg)
	}
	if err != nil {
		return addSource{}, fmt.Errorf("read torrent file: %w", err)
	}
	return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(b)}}, nil
}

// isInfoHash reports whether s is a bare v1 info-hash: 40 hex digits or 32
// base32 characters (the web UI's rule, web/src/add.ts).
func isInfoHash(s string) bool {
	var alphabet string
	switch len(s) {
	case 40:
		alphabet = "0123456789abcdefABCDEF"
	case 32:
		alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	default:
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune(alphabet, r) {
			return false
		}
	}
	return true
}
