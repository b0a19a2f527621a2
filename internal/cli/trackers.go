package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/lodestone-bt/lodestone/api"
)

const trackersUsage = `usage: lodestone trackers [flags] <task-id>
       lodestone trackers [flags] add <task-id> <url>...
       lodestone trackers [flags] rm <task-id> <url>...

Lists the task's trackers (task.trackers) in announce order, as a table:
URL, STATUS (not_contacted, working or error), SEEDS and LEECHERS as the
tracker last reported them ("-" when unknown), NEXT (the next announce,
RFC 3339 UTC) and ERROR (why the last announce failed).

add adds tracker URLs to the task (task.add_trackers): http(s) and udp
announce URLs; one the task has already is left alone. rm removes them
(task.remove_trackers). Both print the task's trackers afterwards, as the
list does. A tracker on a loopback or private address is refused at announce
time unless the daemon runs with --allow-private-trackers (its ERROR says
so).

With --json, prints the daemon's result.
`

func runTrackers(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("trackers")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, trackersUsage)
	if err != nil {
		return err
	}
	// "add" and "rm" are actions when more arguments follow: a lone
	// "add" is a task id prefix (it is hex).
	action := "ls"
	if len(pos) >= 2 && (pos[0] == "add" || pos[0] == "rm") {
		action, pos = pos[0], pos[1:]
	}
	if action == "ls" {
		if err := oneID("trackers", pos); err != nil {
			return err
		}
	} else if len(pos) < 2 {
		return usagef("%s takes a task id and one or more tracker URLs", action)
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	tasks, err := resolveTasks(ctx, c, pos[:1])
	if err != nil {
		return err
	}
	id := tasks[0].TaskID
	method, params, what := api.MethodTaskTrackers, any(api.TaskIDParams{TaskID: id}), "trackers of"
	switch action {
	case "add":
		method, params, what = api.MethodTaskAddTrackers, api.TaskTrackersParams{TaskID: id, URLs: pos[1:]}, "add trackers to"
	case "rm":
		method, params, what = api.MethodTaskRemoveTrackers, api.TaskTrackersParams{TaskID: id, URLs: pos[1:]}, "remove trackers from"
	}
	var raw json.RawMessage
	if err := c.Call(ctx, method, params, &raw); err != nil {
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var res api.TaskTrackersResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("%s %s: decode result: %w", what, id, err)
	}
	return writeTrackersTable(e.stdout, res.Trackers)
}

// writeTrackersTable writes trackers as an aligned table, header first.
func writeTrackersTable(w io.Writer, trackers []api.TaskTracker) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "URL\tSTATUS\tSEEDS\tLEECHERS\tNEXT\tERROR")
	for _, t := range trackers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", orDash(t.URL), orDash(t.Status),
			count(t.Seeders), count(t.Leechers), orDash(t.NextAnnounce), orDash(t.LastError))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// count renders a tracker's count, "-" when unknown (negative).
func count(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}
