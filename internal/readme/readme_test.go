package readme

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// block is a fenced block of the README: its info string and lines.
type block struct {
	info  string
	lines []string
}

// blocks returns the README's fenced blocks whose info string is info.
func blocks(t *testing.T, readme, info string) []block {
	t.Helper()
	var out []block
	var cur *block
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{info: strings.TrimPrefix(l, "```")}
		case cur != nil && l == "```":
			if cur.info == info {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no ```%s block", info)
	}
	return out
}

// step is one command of a console block and the output shown for it.
type step struct {
	cmd  string
	want []string
}

func steps(bs []block) []step {
	var out []step
	for _, b := range bs {
		for _, l := range b.lines {
			if cmd, ok := strings.CutPrefix(l, "$ "); ok {
				out = append(out, step{cmd: cmd})
			} else if len(out) > 0 {
				out[len(out)-1].want = append(out[len(out)-1].want, l)
			}
		}
	}
	return out
}

// match reports whether got matches want line by line: a want line "…"
// stands for any lines (none included), and "…" inside a line for any
// text.
func match(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0
	}
	if want[0] == "…" {
		for i := 0; i <= len(got); i++ {
			if match(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && lineMatch(want[0], got[0]) && match(want[1:], got[1:])
}

func lineMatch(want, got string) bool {
	parts := strings.Split(want, "…")
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	got = got[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(got, p)
		}
		j := strings.Index(got, p)
		if j < 0 {
			return false
		}
		got = got[j+len(p):]
	}
	return got == ""
}

const marker = "@@readme-step "

// The README's first session runs as written: the console blocks' commands
// in one bash, each step's output as shown; then the websocat lines are
// replayed on the API and answered as shown, and the events listed are
// the ones the daemon logged.
func TestFirstSession(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	ss := steps(blocks(t, readme, "console first-session"))
	// The README names its ports: a daemon of the user's on one of them
	// (outside scripts/test's namespace) would answer in the session's
	// stead.
	for _, addr := range []string{"127.0.0.1:6810", "127.0.0.1:6811", "127.0.0.1:6881"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the README's port %s is taken: %v", addr, err)
			}
			t.Skipf("the README's port %s is taken (run it in a namespace of its own: unshare --net --map-root-user): %v", addr, err)
		}
		ln.Close()
	}
	bin := daemontest.Binary(t)
	// The session's directory, /tmp/ls, is the test's own: two test runs
	// on one machine (each in its own network namespace) would otherwise
	// share it. Nothing else of the commands or output changes.
	ls := filepath.Join(t.TempDir(), "ls")
	for i := range ss {
		ss[i].cmd = strings.ReplaceAll(ss[i].cmd, "/tmp/ls", ls)
		for j := range ss[i].want {
			ss[i].want[j] = strings.ReplaceAll(ss[i].want[j], "/tmp/ls", ls)
		}
	}

	var script strings.Builder
	script.WriteString("set -e\n")
	for i, s := range ss {
		fmt.Fprintf(&script, "echo '%s%d'\n%s\n", marker, i, s.cmd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
	// bash and the daemons it starts in the background share a process
	// group of their own, which the test ends however the session ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGroup(t, cmd.Process.Pid) })
	err = cmd.Wait()
	out := stdout.String()
	got := map[int][]string{}
	cur := -1
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if n, ok := strings.CutPrefix(l, marker); ok {
			cur, _ = strconv.Atoi(n)
			continue
		}
		if cur >= 0 {
			got[cur] = append(got[cur], l)
		}
	}
	for i, s := range ss {
		if i > cur {
			break
		}
		if !match(s.want, got[i]) {
			t.Errorf("$ %s\ngot:\n%s\nwant (README):\n%s", s.cmd, strings.Join(got[i], "\n"), strings.Join(s.want, "\n"))
		}
	}
	if err != nil {
		for _, log := range []string{ls + "/log", ls + "/seed/log"} {
			b, _ := os.ReadFile(log)
			t.Logf("%s:\n%s", log, b)
		}
		t.Fatalf("the session stopped at $ %s: %v\nstderr:\n%s", ss[max(cur, 0)].cmd, err, stderr.String())
	}
	replayWebsocat(t, ctx, ls, blocks(t, readme, "text first-session-ws")[0].lines)
	checkEvents(t, ctx, ls, blocks(t, readme, "text first-session-events")[0].lines)
}

// stopGroup ends the daemons the session left running in the
// background (bash's children, in its process group pgid) with SIGTERM,
// as Ctrl-C would, and waits for them to exit.
func stopGroup(t *testing.T, pgid int) {
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			t.Errorf("the session's daemons did not stop on SIGTERM")
			syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dialAsWebsocat connects as the README's websocat line does: the API
// address it names, the token of /tmp/ls/data/token (in ls) as a bearer
// token.
func dialAsWebsocat(t *testing.T, ctx context.Context, ls, line string) *websocket.Conn {
	t.Helper()
	if !strings.Contains(line, `websocat -H "Authorization: Bearer $(cat /tmp/ls/data/token)" ws://127.0.0.1:6810/ws`) {
		t.Fatalf("the websocat line changed: %s", line)
	}
	tok, err := os.ReadFile(filepath.Join(ls, "data", "token"))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string][]string{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}}
	c, _, err := websocket.Dial(ctx, "ws://127.0.0.1:6810/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// replayWebsocat sends each --> line and waits for the answer with its id,
// which must hold every field the <-- line shows ("..." stands for the
// fields left out).
func replayWebsocat(t *testing.T, ctx context.Context, ls string, lines []string) {
	c := dialAsWebsocat(t, ctx, ls, strings.TrimPrefix(lines[0], "$ "))
	defer c.CloseNow()
	for _, l := range lines[1:] {
		if req, ok := strings.CutPrefix(l, "--> "); ok {
			if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		shown, ok := strings.CutPrefix(l, "<-- ")
		if !ok {
			t.Fatalf("a line neither --> nor <--: %s", l)
		}
		want := decodeShown(t, shown)
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", shown, err)
			}
			var got map[string]any
			if err := json.Unmarshal(msg, &got); err != nil {
				t.Fatal(err)
			}
			if _, ev := got["name"]; ev || got["id"] != want["id"] {
				continue // an event, or another answer
			}
			if !subset(want, got) {
				t.Errorf("answer %s\nthe README shows %s", msg, shown)
			}
			break
		}
	}
}

// checkEvents replays the daemon's event log and finds the events the
// README lists, in order (ids aside: an event log's ids are its own).
func checkEvents(t *testing.T, ctx context.Context, ls string, lines []string) {
	c := dialAsWebsocat(t, ctx, ls, `websocat -H "Authorization: Bearer $(cat /tmp/ls/data/token)" ws://127.0.0.1:6810/ws`)
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":"r","method":"events.replay","params":{"after":"0"}}`)); err != nil {
		t.Fatal(err)
	}
	var logged []map[string]any
	replayed := -1
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for replayed < 0 || len(logged) < replayed {
		_, msg, err := c.Read(rctx)
		if err != nil {
			t.Fatalf("events.replay: %v (%d of %d read)", err, len(logged), replayed)
		}
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatal(err)
		}
		if m["id"] == "r" {
			res, _ := m["result"].(map[string]any)
			n, _ := res["replayed"].(float64)
			replayed = int(n)
			continue
		}
		if _, ok := m["name"]; ok && replayed >= 0 {
			logged = append(logged, m)
		}
	}
	next := 0
	for _, l := range lines {
		want := decodeShown(t, strings.TrimPrefix(l, "<-- "))
		delete(want, "id")
		found := false
		for ; next < len(logged) && !found; next++ {
			found = subset(want, logged[next])
		}
		if !found {
			var all []string
			for _, e := range logged {
				b, _ := json.Marshal(e)
				all = append(all, string(b))
			}
			t.Errorf("event %s not in the log (in order); the log:\n%s", l, strings.Join(all, "\n"))
			return
		}
	}
}

// decodeShown decodes a JSON object as the README shows it, where ",..."
// stands for fields left out.
func decodeShown(t *testing.T, shown string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(shown, ",...", "")), &m); err != nil {
		t.Fatalf("README line %s: %v", shown, err)
	}
	return m
}

// subset reports whether every field of want is in got with the same
// value, objects compared the same way.
func subset(want, got map[string]any) bool {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return false
		}
		wm, wok := w.(map[string]any)
		gm, gok := g.(map[string]any)
		if wok && gok {
			if !subset(wm, gm) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(w, g) {
			return false
		}
	}
	return true
}
