package config

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/logging"
)

// Show writes the effective configuration as TOML, each value followed by
// a comment saying where it came from (flag, env NAME, file PATH:LINE or
// default), secrets masked.
func (c *Config) Show(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("# The configuration `lodestone serve` runs with, and where each value comes from.\n")
	if c.File != "" {
		ew.printf("# File: %s\n", c.File)
	} else {
		ew.printf("# File: none\n")
	}
	values := slices.Clone(c.values)
	slices.SortStableFunc(values, func(a, b Value) int { return compareKeys(a.Key, b.Key) })
	cur := ""
	for _, v := range values {
		if t := table(v.Key); t != cur {
			cur = t
			if v.Kind != KindLevels {
				ew.printf("\n[%s]\n", t)
			}
		}
		if v.Kind == KindLevels {
			ew.printf("\n[%s]  # %s\n", v.Name, v.Source)
			for _, comp := range sortedKeys(c.LogLevels) {
				ew.printf("%s = %s\n", comp, quote(strings.ToLower(c.LogLevels[comp].String())))
			}
			continue
		}
		ew.printf("%s = %s  # %s\n", leaf(v.Key), v.Shown(), v.Source)
	}
	return ew.err
}

// WriteInit writes a configuration file holding every key of keys,
// commented out, with its default and what it does: a file to start from.
func WriteInit(w io.Writer, keys []Key) error {
	ew := &errWriter{w: w}
	ew.printf(`# Lodestone's configuration file (lodestone serve), in TOML.
#
# Every key is here, commented out, with its default: uncomment a line to
# change it. A value given by a command-line flag or a LODESTONE_*
# environment variable wins over this file. Keys marked "reload" are
# applied by SIGHUP (systemctl reload) while the daemon runs; the others
# take a restart. The [session] keys are session.set's settings: this file
# gives them at start and on reload whenever its value changes, and a
# session.set (web UI, CLI) lasts until then. The [cluster] keys join the
# daemon to a cluster of nodes (docs/CLUSTER.md). See docs/OPERATIONS.md.
`)
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, compareKeys)
	cur := ""
	for _, k := range keys {
		if t := table(k); t != cur {
			cur = t
			ew.printf("\n[%s]\n", t)
		}
		ew.printf("\n")
		for _, line := range wrap(describe(k), 74) {
			ew.printf("# %s\n", line)
		}
		if k.Kind == KindLevels {
			for _, comp := range logging.Components() {
				ew.printf("#%s = \"info\"\n", comp)
			}
			continue
		}
		ew.printf("#%s = %s\n", leaf(k), k.Default)
	}
	return ew.err
}

// describe is a key's usage, with its flag, variable and whether a reload
// applies it.
func describe(k Key) string {
	var b strings.Builder
	if k.Usage != "" {
		// Usage is written for after a flag's name; here it starts
		// a sentence.
		b.WriteString(strings.ToUpper(k.Usage[:1]) + k.Usage[1:])
	}
	if !strings.HasSuffix(k.Usage, ".") {
		b.WriteString(".")
	}
	if k.Flag != "" {
		fmt.Fprintf(&b, " Flag --%s,", k.Flag)
	}
	fmt.Fprintf(&b, " env %s", k.Env)
	if k.Runtime {
		b.WriteString("; reload")
	}
	b.WriteString(".")
	return b.String()
}

// wrap breaks s into lines of at most width runes where it can.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}

// Reference writes the keys as a Markdown table, for docs/OPERATIONS.md.
func Reference(w io.Writer, keys []Key) error {
	ew := &errWriter{w: w}
	ew.printf("| Key | Flag | Environment | Default | Reload | What it does |\n")
	ew.printf("| --- | --- | --- | --- | --- | --- |\n")
	keys = slices.Clone(keys)
	slices.SortStableFunc(keys, compareKeys)
	for _, k := range keys {
		flag := ""
		if k.Flag != "" {
			flag = "`--" + k.Flag + "`"
		}
		reload := "restart"
		if k.Runtime {
			reload = "yes"
		}
		def := "`" + k.Default + "`"
		if k.Name == "data_dir" || k.Name == "download_dir" {
			// The user's: not the same on every machine.
			def = "see above"
		}
		ew.printf("| `%s` | %s | `%s` | %s | %s | %s |\n", k.Name, flag, k.Env, def, reload,
			strings.ReplaceAll(k.Usage, "|", `\|`))
	}
	return ew.err
}

// Change is a key whose value a reload changes.
type Change struct {
	Key string
	// Old and New are the values, secrets masked.
	Old, New string
	// Runtime changes are applied at once; the others need a restart.
	Runtime bool
}

// Diff returns the keys whose values differ between old and new, in
// Values' order.
func Diff(old, new *Config) []Change {
	var changes []Change
	for _, n := range new.values {
		o, ok := old.Lookup(n.Name)
		if ok && o.Text == n.Text {
			continue
		}
		changes = append(changes, Change{Key: n.Name, Old: o.Shown(), New: n.Shown(), Runtime: n.Runtime})
	}
	return changes
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// Applied returns the configuration in force after a reload from old to
// new applied the runtime keys: new's values for those, old's for the
// rest (which take a restart), so a later Diff names them again.
func Applied(old, new *Config) *Config {
	c := *new
	c.values = slices.Clone(new.values)
	for i, v := range c.values {
		if v.Runtime {
			continue
		}
		if o, ok := old.Lookup(v.Name); ok {
			c.values[i] = o
		}
	}
	return &c
}
