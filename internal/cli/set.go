package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

const setUsage = `usage: lodestone set [flags] <task-id>
       lodestone set [flags] --all | --with-label L | --state S | --in-category C

Changes the task (task.set): give at least one of --label, --skip, --normal,
--high, --category, --ratio-limit, --seed-time-limit, --seed-idle-limit,
--down, --up and --sequential.

--label replaces the task's labels with the --label values, in the order
given (duplicates are dropped), and prints "set <task_id> labels: <labels>".
--label '' given alone clears the labels; an empty label together with
others is an error.

--skip, --normal and --high set the priority of files, by their indices as
"lodestone files" shows them (comma-separated, repeatable): a skipped file
is not downloaded, a high one is fetched first. Files not named keep their
priority. This needs the task's metadata. Prints "set <task_id> priorities:
<index> <priority>, ...".

--category puts the task in that category ("lodestone category"), moving
its data to the category's save path when that is not where the data is;
--category '' takes the task out of its category and moves nothing. Prints
"set <task_id> category: <name> (<download_dir>)".

--down and --up cap the task's download and upload rate, in bytes per
second or with a unit as "lodestone limits" takes them (1MiB, 200KiB); 0
removes the task's own cap (the daemon's still applies). Prints "set
<task_id> rate limits: down <rate>, up <rate>". --sequential downloads the
pieces in order, to play a file while it downloads; --sequential=false
goes back to rarest first. Prints "set <task_id> sequential: <bool>".

--ratio-limit, --seed-time-limit and --seed-idle-limit set the task's own
seeding limits: a ratio (uploaded / completed, e.g. 1.5), a time after it
finished, and a time without uploading while seeding; times in seconds or
as a duration such as 90m or 2h. "none" sets no limit for the task,
whatever the session's; "session" follows the session's setting again.
A task that reached a limit stops seeding (state finished). Prints "set
<task_id> seeding limits: ratio <r>, time <t>, idle <i>".

With --json, prints the task.set result (the updated task).

Instead of an id, --all, --with-label, --state and --in-category select
the tasks (given together, a task must match all of them) to change in one
bulk call; it prints "set <task_id> <name>" per task, "set <task_id>:
<error>" for one it failed on, and fails if any did. With --json, prints
the bulk result.
`

func runSet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("set")
	var common commonFlags
	common.register(fs)
	var labels stringList
	fs.Var(&labels, "label", "the task's new `label` (repeatable; '' alone clears)")
	var skip, normal, high indexList
	fs.Var(&skip, "skip", "do not download these files: comma-separated `indices` (repeatable)")
	fs.Var(&normal, "normal", "download these files at normal priority: comma-separated `indices` (repeatable)")
	fs.Var(&high, "high", "download these files first: comma-separated `indices` (repeatable)")
	ratio := limitFlag{ratio: true}
	var seedTime, idle limitFlag
	fs.Var(&ratio, "ratio-limit", "stop seeding at this `ratio`, or none, or session")
	fs.Var(&seedTime, "seed-time-limit", "stop seeding this long after finishing: `seconds` or a duration (90m), or none, or session")
	fs.Var(&idle, "seed-idle-limit", "stop seeding after this long without uploading: `seconds` or a duration, or none, or session")
	var category stringList
	fs.Var(&category, "category", "put the task in this `category`, moving its data there ('' takes it out)")
	var down, up sizeFlag
	fs.Var(&down, "down", "cap the task's download `rate` per second, e.g. 1MiB (0: no cap of its own)")
	fs.Var(&up, "up", "cap the task's upload `rate` per second, e.g. 200KiB (0: no cap of its own)")
	sequential := fs.Bool("sequential", false, "download pieces in order (for playing while downloading); --sequential=false: rarest first again")
	var sf selectFlags
	sf.register(fs, "with-label", "in-category")
	pos, err := e.parse(fs, args, setUsage)
	if err != nil {
		return err
	}
	seqSet := false
	fs.Visit(func(f *flag.Flag) { seqSet = seqSet || f.Name == "sequential" })
	sel, err := sf.selection(pos)
	if err != nil {
		return err
	}
	if sel == nil {
		if err := oneID("set", pos); err != nil {
			return err
		}
	}
	prios, err := filePriorities(map[string]indexList{api.PrioritySkip: skip, api.PriorityNormal: normal, api.PriorityHigh: high})
	if err != nil {
		return err
	}
	limits := ratio.set || seedTime.set || idle.set
	rates := down.set || up.set
	if !labels.set && len(prios) == 0 && !category.set && !limits && !rates && !seqSet {
		return usagef("nothing to set: give --label, --skip, --normal, --high, --category, --ratio-limit, --seed-time-limit, --seed-idle-limit, --down, --up or --sequential (--label '' clears the labels)")
	}
	if len(category.values) > 1 {
		return usagef("--category given %d times: a task is in one category", len(category.values))
	}
	p := api.TaskSetParams{FilePriorities: prios}
	if ratio.set {
		p.SeedRatioLimit = &ratio.value
	}
	if seedTime.set {
		v := int64(seedTime.value)
		p.SeedTimeLimit = &v
	}
	if idle.set {
		v := int64(idle.value)
		p.SeedIdleLimit = &v
	}
	if category.set {
		p.Category = &category.values[0]
	}
	if down.set {
		p.DownloadRateLimit = &down.value
	}
	if up.set {
		p.UploadRateLimit = &up.value
	}
	if seqSet {
		p.Sequential = sequential
	}
	if labels.set {
		newLabels, err := parseSetLabels(labels.values)
		if err != nil {
			return err
		}
		p.Labels = &newLabels
	}

	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	if sel != nil {
		p.Select = sel
		return runBulk(ctx, e, c, common.json, api.MethodTaskSet, p, "set", "set", "")
	}
	tasks, err := resolveTasks(ctx, c, pos)
	if err != nil {
		return err
	}
	p.TaskID = tasks[0].TaskID
	var raw json.RawMessage
	if err := c.Call(ctx, api.MethodTaskSet, p, &raw); err != nil {
		return fmt.Errorf("set %s: %w", p.TaskID, err)
	}
	if common.json {
		return printJSON(e.stdout, raw)
	}
	var t api.Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return fmt.Errorf("set %s: decode result: %w", p.TaskID, err)
	}
	if labels.set {
		shown := "(none)"
		if len(t.Labels) > 0 {
			shown = sanitize(strings.Join(t.Labels, ","))
		}
		fmt.Fprintf(e.stdout, "set %s labels: %s\n", t.TaskID, shown)
	}
	if category.set {
		shown := "(none)"
		if t.Category != "" {
			shown = sanitize(t.Category)
		}
		fmt.Fprintf(e.stdout, "set %s category: %s (%s)\n", t.TaskID, shown, sanitize(t.DownloadDir))
	}
	if len(prios) > 0 {
		shown := make([]string, 0, len(prios))
		for _, i := range slices.Sorted(maps.Keys(prios)) {
			shown = append(shown, fmt.Sprintf("%d %s", i, prios[i]))
		}
		fmt.Fprintf(e.stdout, "set %s priorities: %s\n", t.TaskID, strings.Join(shown, ", "))
	}
	if rates {
		fmt.Fprintf(e.stdout, "set %s rate limits: down %s, up %s\n", t.TaskID, rateLimit(t.DownloadRateLimit), rateLimit(t.UploadRateLimit))
	}
	if seqSet {
		fmt.Fprintf(e.stdout, "set %s sequential: %t\n", t.TaskID, t.Sequential)
	}
	if limits {
		fmt.Fprintf(e.stdout, "set %s seeding limits: ratio %s, time %s, idle %s\n", t.TaskID,
			showLimit(t.SeedRatioLimit, false), showLimit(float64(t.SeedTimeLimit), true), showLimit(float64(t.SeedIdleLimit), true))
	}
	return nil
}

// rateLimit renders a task's rate cap: "none" for 0.
func rateLimit(n int64) string {
	if n == 0 {
		return "none"
	}
	return formatRate(n)
}

// limitFlag is a per-task seeding limit given on the command line: a
// ratio (ratio) or a time, "none" or "session".
type limitFlag struct {
	ratio bool
	set   bool
	value float64 // api.SeedLimitSession, api.SeedLimitNone, or the limit (seconds for a time)
}

func (f *limitFlag) String() string {
	if !f.set {
		return ""
	}
	return showLimit(f.value, !f.ratio)
}

func (f *limitFlag) Set(v string) error {
	switch v = strings.TrimSpace(v); v {
	case "none":
		f.value = api.SeedLimitNone
	case "session":
		f.value = api.SeedLimitSession
	default:
		n, err := strconv.ParseFloat(v, 64)
		if !f.ratio && err != nil {
			var d time.Duration
			if d, err = time.ParseDuration(v); err == nil {
				n = float64(d / time.Second)
			}
		}
		if err != nil || n < 0 || math.IsInf(n, 0) || math.IsNaN(n) || !f.ratio && n != math.Trunc(n) {
			if f.ratio {
				return errors.New("want a ratio of 0 or more, none or session")
			}
			return errors.New("want whole seconds or a duration (90m), none or session")
		}
		f.value = n
	}
	f.set = true
	return nil
}

// showLimit renders a seeding limit of a task for a human.
func showLimit(v float64, seconds bool) string {
	switch v {
	case api.SeedLimitNone:
		return "none"
	case api.SeedLimitSession:
		return "session"
	}
	if seconds {
		return (time.Duration(v) * time.Second).String()
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// filePriorities turns the indices given per priority into task.set's
// file_priorities; nil when none is given. A file given two different
// priorities is an error.
func filePriorities(byPriority map[string]indexList) (map[int]string, error) {
	var out map[int]string
	for _, prio := range []string{api.PrioritySkip, api.PriorityNormal, api.PriorityHigh} {
		for _, i := range byPriority[prio].values {
			if out == nil {
				out = map[int]string{}
			}
			if old, ok := out[i]; ok && old != prio {
				return nil, usagef("file %d is given both --%s and --%s", i, old, prio)
			}
			out[i] = prio
		}
	}
	return out, nil
}

// parseSetLabels turns the --label values into the new label list: a
// single empty value means none.
func parseSetLabels(values []string) ([]string, error) {
	if len(values) == 1 && strings.TrimSpace(values[0]) == "" {
		return []string{}, nil
	}
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, usagef("--label '' clears the labels and cannot be combined with other labels")
		}
	}
	return values, nil
}
