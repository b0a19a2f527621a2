package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const watchUsage = `usage: lodestone watch [flags] [<task-id>...]

Follows the progress of the given tasks, or without ids of every task that
is queued, fetching metadata, checking or downloading, and exits 0 once all
of them have finished (a task already seeding or finished counts as
finished). On a terminal each task has one line, redrawn in place:

  0123abcd  name  [#########-----------]   45.2%    1.2 MiB/s  eta 10s     downloading

Otherwise a line is printed per progress report and per state change. A
paused task is waited for until it is resumed and finishes.

Exits 1 with a message if a watched task enters state error or is removed,
or the connection to the daemon ends. With --json, prints each event about
a watched task as one JSON object per line.
`

// watchEvents are the events watch subscribes to.
func watchEvents() []string {
	return []string{
		api.EventTaskProgress, api.EventTaskFinished, api.EventTaskState,
		api.EventTaskError, api.EventTaskMetadata, api.EventTaskRemoved,
	}
}

// barWidth is the number of cells of watch's progress bar.
const barWidth = 20

// nameWidth is the most runes of a task's name watch shows.
const nameWidth = 32

func runWatch(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("watch")
	var common commonFlags
	common.register(fs)
	pos, err := e.parse(fs, args, watchUsage)
	if err != nil {
		return err
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return err
	}
	defer c.Close()
	// Subscribe before listing: an event after the list is then never
	// missed, and one from before it only repeats what the list says.
	if err := c.Subscribe(ctx, watchEvents()...); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	tasks, err := c.ListTasks(ctx)
	if err != nil {
		return fmt.Errorf("list tasks: %w", err)
	}
	w := &watcher{e: e, json: common.json, byID: map[string]*watchRow{}}
	if len(pos) > 0 {
		for _, a := range pos {
			t, err := matchTask(tasks, a)
			if err != nil {
				return err
			}
			w.add(t)
		}
	} else {
		for _, t := range tasks {
			switch t.State {
			case api.StateQueued, api.StateMetadata, api.StateChecking, api.StateDownloading:
				w.add(t)
			}
		}
	}
	if len(w.rows) == 0 {
		if !w.json {
			fmt.Fprintln(e.stdout, "nothing to watch: no task is queued, fetching metadata, checking or downloading")
		}
		return nil
	}
	for _, r := range w.rows {
		if r.state == api.StateError {
			return fmt.Errorf("task %s (%s) is in state error: %s", r.id, r.name, r.errText)
		}
	}
	w.start()
	return w.run(ctx, c)
}

// watchRow is what watch knows of one task.
type watchRow struct {
	id, name                       string
	state                          api.TaskState
	size, completed, down, up, eta int64
	done                           bool
	errText                        string
}

// watcher follows tasks and draws them. It is used by one goroutine.
type watcher struct {
	e    *env
	json bool
	rows []*watchRow // in display order
	byID map[string]*watchRow
	// drawn is how many lines the last redraw wrote (terminal only).
	drawn int
}

func (w *watcher) add(t api.Task) {
	if w.byID[t.TaskID] != nil {
		return
	}
	r := &watchRow{
		id: t.TaskID, name: sanitize(t.Name), state: t.State, size: t.Size, completed: t.Completed,
		down: t.DownloadRate, up: t.UploadRate, eta: t.ETASeconds,
		done: complete(t.State), errText: t.Error,
	}
	w.rows = append(w.rows, r)
	w.byID[r.id] = r
}

// complete reports whether a task in state s has all its wanted data:
// seeding, or finished (seeding limit reached).
func complete(s api.TaskState) bool {
	return s == api.StateSeeding || s == api.StateFinished
}

func (w *watcher) allDone() bool {
	for _, r := range w.rows {
		if !r.done {
			return false
		}
	}
	return true
}

// start draws the initial state.
func (w *watcher) start() {
	if w.json {
		return
	}
	if w.e.tty {
		w.redraw()
		return
	}
	for _, r := range w.rows {
		w.println(w.line(r))
	}
}

// run handles events until every watched task is done, one fails, the
// connection ends or ctx is done.
func (w *watcher) run(ctx context.Context, c *client.Client) error {
	for !w.allDone() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch stopped: %w", ctx.Err())
		case ev, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("connection to the daemon lost: %w", c.Err())
			}
			if err := w.apply(ev); err != nil {
				return err
			}
		}
	}
	if !w.json {
		fmt.Fprintf(w.e.stdout, "all %d watched task(s) finished\n", len(w.rows))
	}
	return nil
}

// errTaskFailed marks a watched task that entered state error.
var errTaskFailed = errors.New("task failed")

// apply updates the watched tasks with ev and shows the change.
func (w *watcher) apply(ev api.Event) error {
	var head struct {
		TaskID string `json:"task_id"`
	}
	if json.Unmarshal(ev.Data, &head) != nil {
		return nil
	}
	r := w.byID[head.TaskID]
	if r == nil {
		return nil
	}
	if w.json {
		b, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if err := printJSON(w.e.stdout, b); err != nil {
			return err
		}
	}
	note := "" // a state change, shown on its own line when not a terminal
	switch ev.Name {
	case api.EventTaskProgress:
		var d api.TaskProgressData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Name, err)
		}
		r.state, r.size, r.completed = d.State, d.Size, d.Completed
		r.down, r.up, r.eta = d.DownloadRate, d.UploadRate, d.ETASeconds
		if complete(d.State) {
			r.done = true
		}
	case api.EventTaskMetadata:
		var d api.TaskMetadataData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Name, err)
		}
		r.name, r.size = sanitize(d.Name), d.Size
	case api.EventTaskFinished:
		r.done = true
		if r.size > 0 {
			r.completed = r.size
		}
	case api.EventTaskState:
		var d api.TaskStateData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Name, err)
		}
		r.state = d.To
		note = fmt.Sprintf("%s -> %s", d.From, d.To)
		switch {
		case complete(d.To):
			r.done = true
		case d.To == api.StateError:
			return fmt.Errorf("%w: %s (%s): %s", errTaskFailed, r.id, r.name, d.Error)
		}
	case api.EventTaskError:
		var d api.TaskErrorData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Name, err)
		}
		return fmt.Errorf("%w: %s (%s): %s", errTaskFailed, r.id, r.name, d.Error)
	case api.EventTaskRemoved:
		return fmt.Errorf("task %s (%s) was removed while being watched", r.id, r.name)
	default:
		return nil
	}
	if r.done {
		r.down, r.eta = 0, -1
	}
	switch {
	case w.json:
	case w.e.tty:
		w.redraw()
	case note != "":
		w.println(fmt.Sprintf("%s  %s  %s", shortID(r.id), r.name, note))
	case ev.Name == api.EventTaskProgress, ev.Name == api.EventTaskFinished:
		w.println(w.line(r))
	}
	return nil
}

// line renders one task: id, name, bar, percent, rate, ETA and state.
func (w *watcher) line(r *watchRow) string {
	width := 0
	for _, o := range w.rows {
		width = max(width, len([]rune(truncate(o.name, nameWidth))))
	}
	name := truncate(r.name, nameWidth)
	name += strings.Repeat(" ", width-len([]rune(name)))
	pct := formatPercent(r.completed, r.size)
	if r.done {
		return fmt.Sprintf("%s  %s  %s  %6s  finished", shortID(r.id), name, bar(1, 1, barWidth), "100.0%")
	}
	return fmt.Sprintf("%s  %s  %s  %6s  %11s  eta %-6s  %s",
		shortID(r.id), name, bar(r.completed, r.size, barWidth), pct, formatRate(r.down), formatETA(r.eta), r.state)
}

// redraw rewrites the block of task lines in place (terminal only).
func (w *watcher) redraw() {
	var b strings.Builder
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", w.drawn) // cursor up to the block's first line
	}
	for _, r := range w.rows {
		b.WriteString("\r\x1b[2K") // clear the line
		b.WriteString(w.line(r))
		b.WriteByte('\n')
	}
	w.drawn = len(w.rows)
	fmt.Fprint(w.e.stdout, b.String())
}

func (w *watcher) println(s string) { fmt.Fprintln(w.e.stdout, s) }
