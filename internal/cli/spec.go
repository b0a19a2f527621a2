package cli

import (
	"context"
	"flag"
	"io"
	"regexp"
	"slices"
	"strings"
)

// spec is what completion and the man page know of a command: its flags
// and usage text. They come from the command itself: every command builds
// its flag set and calls env.parse before it does anything, so
// describeCommand runs it with an env whose parse records them and stops
// it there. No
// command table has to repeat a command's flags.
type spec struct {
	name, summary string
	flags         *flag.FlagSet
	usage         string
}

// describeCommand returns c's spec without running it: no daemon is
// contacted and nothing is printed.
func describeCommand(c command) spec {
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }, spec: &spec{}}
	c.run(context.Background(), e, nil) // stops at parse with errHelp
	s := *e.spec
	s.name, s.summary = c.name, c.summary
	if s.flags == nil {
		s.flags = flag.NewFlagSet(c.name, flag.ContinueOnError)
	}
	return s
}

// specs describes every command help lists, serve first when serveFlags
// is given.
func specs(serveFlags func() *flag.FlagSet) []spec {
	var out []spec
	if serveFlags != nil {
		out = append(out, spec{name: "serve", summary: "run the daemon", flags: serveFlags(),
			usage: "usage: lodestone serve [flags]\n\nRuns the daemon in the foreground until SIGINT or SIGTERM.\n"})
	}
	for _, c := range commands() {
		out = append(out, describeCommand(c))
	}
	if serveFlags != nil {
		// cmd/lodestone runs config too, with serve's flags.
		out = append(out, spec{name: "config", summary: "show, check or write the configuration file", flags: serveFlags(), usage: configUsage})
	}
	return out
}

// configUsage sums up `lodestone config -h` (cmd/lodestone) for the man
// page and completion.
const configUsage = `usage: lodestone config [flags] show [PATH]
       lodestone config [flags] check [PATH]
       lodestone config init [PATH]

show prints the configuration serve would run with (its flags, the
environment, the file PATH or the default one) and where each value comes
from, secrets masked; check validates it without starting, naming the file,
line and key of a mistake; init writes a file of every key and its default
(PATH "-": standard output). The flags are serve's. See docs/OPERATIONS.md.
`

// usageLineRE matches a synopsis line's words after the command and its
// "[flags]".
var usageLineRE = regexp.MustCompile(`(?m)^(?:usage: | +)lodestone [a-z-]+ (?:\[flags\] ?)?(.*)`)

// actions are the words a command takes as its first argument (category
// ls|set|rm, ...), read from its usage lines: the leading lowercase words,
// or alternatives joined by "|".
func (s spec) actions() []string {
	var out []string
	for _, m := range usageLineRE.FindAllStringSubmatch(s.usage, -1) {
		words := strings.Fields(m[1])
		for i := 0; i < len(words); i++ {
			w := words[i]
			if !isWord(w) || s.name == "queue" {
				break
			}
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
			if i+2 < len(words) && words[i+1] == "|" {
				i++ // the next alternative
				continue
			}
			break
		}
	}
	return out
}

// takesTaskIDs reports whether the command's arguments are task ids.
func (s spec) takesTaskIDs() bool { return strings.Contains(s.usage, "<task-id>") }

func isWord(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// isBoolFlag reports whether f takes no value.
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
