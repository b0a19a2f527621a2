package cli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

const completionUsage = `usage: lodestone completion bash|zsh|fish

Prints a script that makes the shell complete lodestone's commands, their
flags and actions, and task ids (with their names, where the shell shows
them) from the running daemon. The script asks "lodestone __complete" for
the candidates each time, so it stays right as commands change.

bash:  source <(lodestone completion bash)      in ~/.bashrc, or
       lodestone completion bash > ~/.local/share/bash-completion/completions/lodestone
zsh:   lodestone completion zsh > "${fpath[1]}/_lodestone"   (then compinit), or
       source <(lodestone completion zsh)       in ~/.zshrc, after compinit
fish:  lodestone completion fish > ~/.config/fish/completions/lodestone.fish
`

func runCompletion(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("completion")
	pos, err := e.parse(fs, args, completionUsage)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("completion takes one shell: bash, zsh or fish")
	}
	script, ok := map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}[pos[0]]
	if !ok {
		return usagef("unknown shell %q: bash, zsh or fish", pos[0])
	}
	if _, err := fmt.Fprint(e.stdout, script); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// The scripts hand the words typed so far, the one being completed last,
// to "lodestone __complete", which prints one candidate per line as
// "word<TAB>description". With no candidate, the shell completes file
// names (a .torrent to add, a directory to move to).

const bashCompletion = `# bash completion for lodestone (lodestone completion bash)
_lodestone() {
    local IFS=$'\n' line
    local -a out
    out=($(lodestone __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
    COMPREPLY=()
    for line in "${out[@]}"; do
        COMPREPLY+=("${line%%$'\t'*}")
    done
    if [ ${#COMPREPLY[@]} -eq 0 ]; then
        compopt -o default 2>/dev/null
    fi
}
complete -F _lodestone lodestone
`

const zshCompletion = `#compdef lodestone
# zsh completion for lodestone (lodestone completion zsh)
_lodestone() {
    local -a lines cands
    local l
    lines=("${(@f)$(lodestone __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for l in "${lines[@]}"; do
        [[ -z $l ]] && continue
        if [[ $l == *$'\t'* ]]; then
            cands+=("${${l%%$'\t'*}//:/\\:}:${l#*$'\t'}")
        else
            cands+=("${l//:/\\:}")
        fi
    done
    if (( ${#cands} )); then
        _describe -t lodestone 'lodestone' cands
    else
        _files
    fi
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _lodestone "$@"
else
    compdef _lodestone lodestone
fi
`

const fishCompletion = `# fish completion for lodestone (lodestone completion fish)
function __lodestone_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    lodestone __complete $words[2..-1] "$cur" 2>/dev/null
end
# Without candidates, fish completes file names.
complete -c lodestone -f -n 'test -n "$(__lodestone_complete)"' -a '(__lodestone_complete)'
`

// completeTimeout bounds asking the daemon for task ids while the user
// waits at a prompt.
const completeTimeout = 3 * time.Second

// runComplete prints the candidates for the last of words (the words
// after "lodestone", the one being completed last, maybe empty).
func runComplete(ctx context.Context, e *env, words []string) error {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, prev := words[len(words)-1], words[:len(words)-1]
	var cands [][2]string // word, description
	add := func(word, desc string) {
		if strings.HasPrefix(word, cur) {
			cands = append(cands, [2]string{word, desc})
		}
	}
	all := specs(e.serveFlags)
	defer func() {
		for _, c := range cands {
			fmt.Fprintf(e.stdout, "%s\t%s\n", c[0], oneLine(c[1]))
		}
	}()
	if len(prev) == 0 {
		for _, s := range all {
			add(s.name, s.summary)
		}
		add("help", "show the help, or a command's")
		return nil
	}
	switch prev[0] {
	case "help":
		if len(prev) == 1 {
			for _, s := range all {
				add(s.name, s.summary)
			}
		}
		return nil
	case "completion":
		if len(prev) == 1 {
			for _, sh := range []string{"bash", "zsh", "fish"} {
				add(sh, "")
			}
		}
		return nil
	}
	i := slices.IndexFunc(all, func(s spec) bool { return s.name == prev[0] })
	if i < 0 {
		return nil
	}
	s := all[i]
	// The words after the command: which are positional, and is the last
	// one a flag waiting for its value?
	var pos []string
	var pending *flag.Flag
	for _, w := range prev[1:] {
		if pending != nil {
			pending = nil
			continue
		}
		if w == "--" || !strings.HasPrefix(w, "-") || w == "-" {
			pos = append(pos, w)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if f := s.flags.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) {
			pending = f
		}
	}
	switch {
	case pending != nil:
		if pending.Name == "state" {
			for _, st := range states() {
				add(string(st), "")
			}
		}
		if pending.Name == "node" {
			for _, n := range nodeCandidates(ctx, e, prev[1:]) {
				add(n.ID, n.State)
			}
		}
		return nil
	case strings.HasPrefix(cur, "-"):
		cur = "--" + strings.TrimLeft(cur, "-")
		s.flags.VisitAll(func(f *flag.Flag) { add("--"+f.Name, f.Usage) })
		return nil
	}
	acts := s.actions()
	if len(pos) == 0 {
		for _, a := range acts {
			add(a, "")
		}
	}
	switch {
	case s.name == "cluster" && len(pos) == 1 && pos[0] == "drain":
		for _, n := range nodeCandidates(ctx, e, prev[1:]) {
			add(n.ID, n.State)
		}
		return nil
	case !s.takesTaskIDs():
		return nil
	case s.name == "trackers" && len(pos) == 1 && slices.Contains(acts, pos[0]):
	case s.name == "queue" && len(pos) == 1:
		for _, to := range []string{api.QueueTop, api.QueueUp, api.QueueDown, api.QueueBottom} {
			add(to, "")
		}
		return nil
	case len(pos) > 0 && !strings.Contains(s.usage, "<task-id>..."):
		return nil // one id only, given already (move's dir follows)
	}
	for _, t := range taskCandidates(ctx, e, prev[1:]) {
		add(t.TaskID, t.Name)
	}
	return nil
}

// taskCandidates lists the tasks of the daemon the words name (their
// --api-addr, --data-dir, --token) or the running one; none when it
// cannot be reached in completeTimeout.
func taskCandidates(ctx context.Context, e *env, words []string) []api.Task {
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	c := completionClient(ctx, e, words)
	if c == nil {
		return nil
	}
	defer c.Close()
	tasks, err := c.ListTasksWith(ctx, api.TaskListParams{Fields: []string{"name"}})
	if err != nil {
		return nil
	}
	return tasks
}

// nodeCandidates lists the cluster's nodes (cluster.status) of the daemon
// the words name, as taskCandidates does its tasks; none outside a
// cluster.
func nodeCandidates(ctx context.Context, e *env, words []string) []api.ClusterNode {
	ctx, cancel := context.WithTimeout(ctx, completeTimeout)
	defer cancel()
	c := completionClient(ctx, e, words)
	if c == nil {
		return nil
	}
	defer c.Close()
	var r api.ClusterStatusResult
	if err := c.Call(ctx, api.MethodClusterStatus, struct{}{}, &r); err != nil {
		return nil
	}
	return r.Nodes
}

// completionClient dials the daemon the words name (their --api-addr,
// --data-dir, --token) or the running one; nil when it cannot be reached
// before ctx ends.
func completionClient(ctx context.Context, e *env, words []string) *client.Client {
	var common commonFlags
	fs := flag.NewFlagSet("complete", flag.ContinueOnError)
	common.register(fs)
	for i, w := range words {
		name, value, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
		if !strings.HasPrefix(w, "-") || fs.Lookup(name) == nil || name == "json" {
			continue
		}
		if !hasValue {
			if i+1 >= len(words) {
				break
			}
			value = words[i+1]
		}
		fs.Set(name, value)
	}
	c, err := common.dial(ctx, e)
	if err != nil {
		return nil
	}
	return c
}

// oneLine keeps the first line of s, without tabs, for a description.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return sanitize(strings.ReplaceAll(s, "\t", " "))
}
