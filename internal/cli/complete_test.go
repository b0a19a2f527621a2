package cli_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// needTool returns the path of a shell the completion tests need; without
// it they fail in CI (scripts/test installs it) and skip elsewhere.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (scripts/test installs it)", name)
		}
		t.Skipf("%s not found: apt-get install %s", name, name)
	}
	return path
}

// words returns the first field of each line of __complete's output.
func words(out string) []string {
	var w []string
	for _, l := range lines(out) {
		if l != "" {
			first, _, _ := strings.Cut(l, "\t")
			w = append(w, first)
		}
	}
	return w
}

// __complete's candidates, without a daemon: commands, flags, actions,
// flag values.
func TestComplete(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"l"}, []string{"ls", "limits"}},
		{[]string{"rech"}, []string{"recheck"}},
		{[]string{"help", "wat"}, []string{"watchdir", "watch"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{[]string{"add", "--pa"}, []string{"--paused"}},
		{[]string{"add", "-me"}, []string{"--metadata-only"}},
		{[]string{"category", ""}, []string{"ls", "set", "rm"}},
		{[]string{"category", "ls", ""}, nil},
		{[]string{"rss", "r"}, []string{"rm", "refresh", "rule"}},
		{[]string{"ls", "--state", "d"}, []string{"downloading"}},
		{[]string{"ls", "--state=d"}, nil},
		{[]string{"nosuch", ""}, nil},
		{[]string{"cluster", ""}, []string{"status", "drain"}},
		{[]string{"cluster", "drain", "--u"}, []string{"--undo"}},
	}
	for _, tt := range tests {
		r := run(t, append([]string{"__complete"}, tt.args...)...).ok(t)
		if got := words(r.stdout); !slices.Equal(got, tt.want) {
			t.Errorf("__complete %q: %q, want %q", tt.args, got, tt.want)
		}
	}
	// A flag comes with its usage as the description.
	r := run(t, "__complete", "add", "--paus").ok(t)
	if r.stdout != "--paused\tadd the task paused: it does not start until resumed\n" {
		t.Errorf("__complete add --paus: %q", r.stdout)
	}
}

// The bash script loads in bash, registers itself, and completes a
// command, a flag of add, and a task id from a real running daemon,
// calling the real binary back.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	bash := needTool(t, "bash")
	bin := daemontest.Binary(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "complete me.bin", Size: 10_000, Seed: 50})
	d := daemontest.Start(t, daemontest.Options{})
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)

	script := filepath.Join(t.TempDir(), "lodestone.bash")
	if err := os.WriteFile(script, []byte(run(t, "completion", "bash").ok(t).stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		// COMP_WORDS and COMP_CWORD as bash sets them on TAB; the last
		// word is the one completed.
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := `source "$1" || exit 1
complete -p lodestone || exit 1
COMP_WORDS=(` + strings.Join(quoted, " ") + `)
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_lodestone
printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog, "bash", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), cli.TokenEnv+"="+daemontest.Token)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		l := lines(string(out))
		if l[0] != "complete -F _lodestone lodestone" {
			t.Errorf("complete -p: %q", l[0])
		}
		return slices.DeleteFunc(l[1:], func(s string) bool { return s == "" })
	}
	if got := complete("lodestone", "rech"); !slices.Equal(got, []string{"recheck"}) {
		t.Errorf("lodestone rech<TAB>: %q", got)
	}
	if got := complete("lodestone", "l"); !slices.Equal(got, []string{"ls", "limits"}) {
		t.Errorf("lodestone l<TAB>: %q", got)
	}
	if got := complete("lodestone", "add", "--meta"); !slices.Equal(got, []string{"--metadata-only"}) {
		t.Errorf("lodestone add --meta<TAB>: %q", got)
	}
	if got := complete("lodestone", "info", "--data-dir", d.Dirs.Data, ""); !slices.Equal(got, []string{tr.InfoHash}) {
		t.Errorf("lodestone info --data-dir D <TAB>: %q, want the task id %s", got, tr.InfoHash)
	}
	if got := complete("lodestone", "pause", "--data-dir", d.Dirs.Data, tr.InfoHash[:4]); !slices.Equal(got, []string{tr.InfoHash}) {
		t.Errorf("lodestone pause --data-dir D %s<TAB>: %q", tr.InfoHash[:4], got)
	}
	// No daemon there: no candidate (bash then completes file names).
	if got := complete("lodestone", "info", "--data-dir", t.TempDir(), ""); len(got) != 0 {
		t.Errorf("with no daemon: %q", got)
	}
}

// The zsh and fish scripts parse.
func TestCompletionScriptsParse(t *testing.T) {
	t.Parallel()
	for _, sh := range []struct{ name, check string }{{"zsh", "-n"}, {"fish", "--no-execute"}} {
		t.Run(sh.name, func(t *testing.T) {
			path := needTool(t, sh.name)
			script := filepath.Join(t.TempDir(), "lodestone."+sh.name)
			if err := os.WriteFile(script, []byte(run(t, "completion", sh.name).ok(t).stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(path, sh.check, script).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", sh.name, sh.check, err, out)
			}
			if sh.name != "fish" {
				return
			}
			// fish completes a command line on request: the script's
			// callback to the real binary gives the candidates.
			cmd := exec.Command(path, "--no-config", "-c", `source $argv[1]; complete -C 'lodestone rech'; complete -C 'lodestone add --meta'`, script)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(daemontest.Binary(t))+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if want := "recheck\tverify tasks' data on disk again\n--metadata-only\t"; err != nil || !strings.HasPrefix(string(out), want) {
				t.Errorf("fish complete -C: %v\n%s\nwant it to start with %q", err, out, want)
			}
		})
	}
	run(t, "completion", "tcsh").fails(t, cli.ExitUsage, `unknown shell "tcsh"`)
}

// The bash script completes a real interactive shell's TAB: bash -i in a
// tmux pane of the test's own tmux server, keys typed, the screen read.
func TestCompletionBashInteractive(t *testing.T) {
	t.Parallel()
	bash := needTool(t, "bash")
	tmux := needTool(t, "tmux")
	bin := daemontest.Binary(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "lodestone.bash")
	if err := os.WriteFile(script, []byte(run(t, "completion", "bash").ok(t).stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	// The binary under its own name, first on PATH, as an installed one.
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(binDir, "lodestone")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-S", sock}, args...)...)
		// No history file: bash would write it into dir as it exits.
		cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"), "HOME="+dir, "HISTFILE=", "PS1=$ ", "TERM=xterm")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tm("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "20", bash+" --norc --noprofile -i")
	t.Cleanup(func() {
		exec.Command(tmux, "-S", sock, "kill-server").Run()
		// The server removes its socket as it exits, after kill-server
		// returns: wait, or the TempDir's removal races it.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(sock); errors.Is(err, fs.ErrNotExist) {
				return
			}
		}
	})
	// screenHas waits for a line of the pane to end with want (tmux
	// trims the space a completed word is followed by).
	screenHas := func(what, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			screen := tm("capture-pane", "-p")
			if slices.ContainsFunc(lines(screen), func(l string) bool { return strings.HasSuffix(strings.TrimRight(l, " "), want) }) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the screen never showed %q:\n%s", what, want, screen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tm("send-keys", "source "+script+" && echo sour\"\"ced", "Enter") // the echo, not the typed line, ends in "sourced"
	screenHas("source the script", "sourced")
	tm("send-keys", "lodestone rech", "Tab")
	screenHas("lodestone rech<TAB>", "lodestone recheck")
	tm("send-keys", "C-u", "lodestone add --metad", "Tab")
	screenHas("lodestone add --metad<TAB>", "lodestone add --metadata-only")
}
