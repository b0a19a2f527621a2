package main

import (
	"bytes"
	"flag"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serveFlags describes serve's flags for completion and the man page
// (cli.Options.ServeFlags), without starting anything: it asks serve for
// its -h text and reads the flags back from it, since serve builds its
// flag set and parses in one function. A stopgap: once serve's flag set
// is built by a function of its own, this returns that.
func serveFlags() *flag.FlagSet {
	var help bytes.Buffer
	serve([]string{"-h"}, io.Discard, &help) // -h returns at parsing
	return flagsFromDefaults(help.String())
}

// flagLineRE matches a flag's first line in flag.PrintDefaults' output.
var flagLineRE = regexp.MustCompile(`^  -([A-Za-z0-9-]+)(?: (\S+))?$`)

// defaultRE matches the default PrintDefaults appends to a usage.
var defaultRE = regexp.MustCompile(` \(default (.*)\)$`)

// flagsFromDefaults rebuilds a flag set from flag.PrintDefaults' text:
// names, value placeholders, usages and defaults.
func flagsFromDefaults(text string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var name, kind string
	var usage []string
	flush := func() {
		if name == "" {
			return
		}
		u := strings.Join(usage, " ")
		def := ""
		if m := defaultRE.FindStringSubmatch(u); m != nil {
			u = strings.TrimSuffix(u, m[0])
			def = m[1]
			if s, err := strconv.Unquote(def); err == nil {
				def = s
			}
		}
		if name == "token" || name == "proxy" {
			def = "" // from the environment, maybe a secret: never shown
		}
		// Each flag gets the value type PrintDefaults named, so that
		// flag.UnquoteUsage names its placeholder the same way again.
		switch kind {
		case "":
			fs.Bool(name, def == "true", u)
		case "string":
			fs.String(name, def, u)
		case "int":
			n, _ := strconv.Atoi(def)
			fs.Int(name, n, u)
		case "float":
			f, _ := strconv.ParseFloat(def, 64)
			fs.Float64(name, f, u)
		case "duration":
			d, _ := time.ParseDuration(def)
			fs.Duration(name, d, u)
		case "value":
			fs.Var(&textValue{value: def}, name, u)
		default:
			// A placeholder taken from the usage: quote it there again.
			fs.String(name, def, strings.Replace(u, kind, "`"+kind+"`", 1))
		}
		fs.Lookup(name).DefValue = def
		name, kind, usage = "", "", nil
	}
	for _, l := range strings.Split(text, "\n") {
		if m := flagLineRE.FindStringSubmatch(l); m != nil {
			flush()
			name, kind = m[1], m[2]
			continue
		}
		if name != "" && strings.HasPrefix(l, "    \t") {
			usage = append(usage, strings.TrimPrefix(l, "    \t"))
		}
	}
	flush()
	return fs
}

// textValue is a flag value that only holds its text (a repeatable flag).
type textValue struct{ value string }

func (v *textValue) String() string     { return v.value }
func (v *textValue) Set(s string) error { v.value = s; return nil }
