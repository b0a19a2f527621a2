package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const infoUsage = `usage: lodestone info [flags] <task-id>

Prints every field of the task (task.get), one "key: value" per line, in
the order of the API's task object. Sizes, rates and the ETA show in human
units with the exact number in parentheses, e.g. "size: 1.0 MiB (1048576)".
A field the daemon left out (such as finished_at before the task finished)
shows "-". Then one "alert: tracker <url>: <why>" line for each tracker
whose last announce failed (task.trackers), e.g. one on a private address
refused unless the daemon runs with --allow-private-trackers. With --json,
prints the task.get result.
`

func runInfo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("info")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, infoUsage)
	if err != nil {
		return err
	}
	if err := oneID("info", pos); err != nil {
		return err
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return err
	}
	id := tasks[0].TaskID
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodTaskGet, api.TaskIDParams{TaskID: id}, &raw); err != nil {
		return fmt.Errorf("get %s: %w", id, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	if err := writeFields(e.stdout, raw); err != nil {
		return err
	}
	trackers, err := c.TaskTrackers(ctx, id)
	if err != nil {
		return fmt.Errorf("trackers of %s: %w", id, err)
	}
	errs, _ := trackerAlerts(trackers)
	for _, tr := range errs {
		if _, err := fmt.Fprintf(e.stdout, "alert: tracker %s: %s\n", sanitize(tr.URL), sanitize(tr.LastError)); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
	}
	return nil
}

// byteFields and rateFields are task fields shown with a human unit too.
func byteFields() []string {
	return []string{"size", "completed", "downloaded", "uploaded", "piece_size"}
}

func rateFields() []string { return []string{"download_rate", "upload_rate"} }

// writeFields writes a task object as "key: value" lines: the known fields
// in api.TaskFieldNames order, then any newer ones sorted.
func writeFields(w io.Writer, raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("decode task: %w", err)
	}
	keys := slices.Clone(api.TaskFieldNames)
	var extra []string
	for k := range m {
		if !slices.Contains(keys, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	var b bytes.Buffer
	for _, k := range append(keys, extra...) {
		fmt.Fprintf(&b, "%s: %s\n", k, fieldValue(k, m[k]))
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// fieldValue renders one field's JSON value for a human.
func fieldValue(key string, v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "-"
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if s == "" {
			return "-"
		}
		return sanitize(s)
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		if len(list) == 0 {
			return "-"
		}
		return sanitize(strings.Join(list, ","))
	}
	text := sanitize(string(v))
	n, err := strconv.ParseInt(string(v), 10, 64)
	switch {
	case err != nil:
		return text
	case slices.Contains(byteFields(), key):
		return fmt.Sprintf("%s (%s)", formatBytes(n), text)
	case slices.Contains(rateFields(), key):
		return fmt.Sprintf("%s (%s)", formatRate(n), text)
	case key == "eta_seconds":
		return fmt.Sprintf("%s (%s)", formatETA(n), text)
	}
	return text
}
