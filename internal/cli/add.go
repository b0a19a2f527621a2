package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const addUsage = `usage: lodestone add [flags] <magnet-uri | file.torrent>...

Adds a task for each argument and prints "added <task_id> <name>" for each
(with --json, the task.add result). An argument starting with "magnet:" is a
magnet URI; anything else is the path of a .torrent file. http(s) URLs are
not supported by the daemon yet: download the .torrent and add the file.
Adding a task that exists already prints the existing task.

--label gives each added task that label (repeatable); it replaces labels
the task had.
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

// readAddSource classifies arg as a magnet URI, an unsupported URL or a
// .torrent file, reading the file.
func readAddSource(arg string) (addSource, error) {
	lower := strings.ToLower(strings.TrimSpace(arg))
	switch {
	case strings.HasPrefix(lower, "magnet:"):
		return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeMagnet, Data: strings.TrimSpace(arg)}}, nil
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return addSource{}, usagef("%s: URL tasks are not supported by this daemon yet; download the .torrent and add the file", arg)
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return addSource{}, fmt.Errorf("read torrent file: %w", err)
	}
	return addSource{arg: arg, params: api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(b)}}, nil
}
