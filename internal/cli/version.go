package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/version"
)

const versionUsage = `usage: lodestone version [--json]
       lodestone --version

Prints this binary's version, the git commit it was built from, the Go
version and platform, the BitTorrent cores compiled in (native, Lodestone's
own, and anacrolix, github.com/anacrolix/torrent, with its version) and
whether uTP is (it needs a cgo build). It needs no daemon. With --json,
prints the same as one JSON object.
`

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet("version")
	asJSON := fs.Bool("json", false, "print a JSON object instead of text")
	pos, err := e.parse(fs, args, versionUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	info := version.Get()
	if *asJSON {
		b, err := json.MarshalIndent(info, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
	_, err = fmt.Fprint(e.stdout, formatVersion(info))
	return err
}

// formatVersion renders info for a human, one "key: value" per line
// after the first, in the form a bug report can quote whole.
func formatVersion(info version.Info) string {
	var b strings.Builder
	fmt.Fprintf(&b, "lodestone %s\n", info.Version)
	commit := info.Commit
	if commit == "" {
		commit = "unknown"
	}
	if info.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit:  %s\n", commit)
	fmt.Fprintf(&b, "go:      %s %s\n", info.GoVersion, info.Platform)
	engines := make([]string, 0, len(info.Engines))
	for _, en := range info.Engines {
		if en.Name == "native" {
			engines = append(engines, "native")
			continue
		}
		engines = append(engines, fmt.Sprintf("%s (github.com/anacrolix/torrent %s)", en.Name, en.Version))
	}
	fmt.Fprintf(&b, "engines: %s\n", strings.Join(engines, ", "))
	if info.UTP {
		b.WriteString("utp:     yes (libutp, cgo)\n")
	} else {
		b.WriteString("utp:     no (built with CGO_ENABLED=0: TCP only)\n")
	}
	return b.String()
}
