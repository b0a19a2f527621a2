package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

const statsUsage = `usage: lodestone stats [flags]

Prints the daemon's session statistics (session.stats), one "key: value" per
line: download and upload rates, bytes downloaded and uploaded since the
daemon started, the number of tasks and of tasks in each state
("tasks.<state>"), and the free space of the download dir. Byte counts and
rates show in human units with the exact number in parentheses. With --json,
prints the session.stats result.
`

// states lists the task states this client knows, in the order stats
// prints them and help lists them: every state of the API.
func states() []api.TaskState { return slices.Clone(api.TaskStates) }

// stateList names the states for a help text: "a, b or c".
func stateList() string {
	names := make([]string, 0, len(api.TaskStates))
	for _, s := range states() {
		names = append(names, string(s))
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func runStats(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("stats")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, statsUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodSessionStats, struct{}{}, &raw); err != nil {
		return fmt.Errorf("session stats: %w", err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var st api.SessionStats
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("session stats: decode result: %w", err)
	}
	return writeStats(e.stdout, st)
}

func writeStats(w io.Writer, st api.SessionStats) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "download_rate: %s (%d)\n", formatRate(st.DownloadRate), st.DownloadRate)
	fmt.Fprintf(&b, "upload_rate: %s (%d)\n", formatRate(st.UploadRate), st.UploadRate)
	fmt.Fprintf(&b, "downloaded: %s (%d)\n", formatBytes(st.Downloaded), st.Downloaded)
	fmt.Fprintf(&b, "uploaded: %s (%d)\n", formatBytes(st.Uploaded), st.Uploaded)
	fmt.Fprintf(&b, "tasks: %d\n", st.Tasks)
	known := map[api.TaskState]bool{}
	for _, s := range states() {
		known[s] = true
		fmt.Fprintf(&b, "tasks.%s: %d\n", s, st.TasksByState[s])
	}
	var other []string // states of a newer daemon
	for s := range st.TasksByState {
		if !known[s] {
			other = append(other, string(s))
		}
	}
	sort.Strings(other)
	for _, s := range other {
		fmt.Fprintf(&b, "tasks.%s: %d\n", sanitize(s), st.TasksByState[api.TaskState(s)])
	}
	fmt.Fprintf(&b, "free_disk: %s (%d)\n", formatBytes(st.FreeDiskBytes), st.FreeDiskBytes)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
