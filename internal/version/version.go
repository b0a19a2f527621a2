// Package version says which Lodestone this is: its version and commit,
// the Go toolchain that built it, the BitTorrent cores compiled in and
// whether uTP is. `lodestone version`, server.info and the User-Agent all
// read it here, so they agree.
//
// A release build (scripts/build) stamps the version and commit with the
// linker:
//
//	go build -ldflags "-X github.com/lodestone-bt/lodestone/internal/version.version=v1.2.3 \
//	    -X github.com/lodestone-bt/lodestone/internal/version.commit=$(git rev-parse HEAD)"
//
// Without a stamp they come from the build information the go command
// records in every binary: the main module's version and the vcs.revision
// and vcs.modified settings (a `go build` in a git clone records those
// unless -buildvcs=false).
//
// It imports the standard library only, so any package may use it.
package version

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set by the linker (-X) in release builds and
// never written at run time; they are variables only because -X can set
// nothing else. Read them through Get.
var (
	version string
	commit  string
)

// Fallback is the version of a build that was neither stamped nor given
// a module version by the go command, e.g. `go build -buildvcs=false` in
// a clone, or a test binary.
const Fallback = "v0.1.0-dev"

// anacrolixModule is the module of the second BitTorrent core.
const anacrolixModule = "github.com/anacrolix/torrent"

// Info describes this build.
type Info struct {
	// Version is Lodestone's version, e.g. "v0.1.0" or a Go pseudo-version
	// such as "v0.0.0-20261207081000-c1e4180abcde+dirty".
	Version string `json:"version"`
	// Commit is the git commit built from, when known.
	Commit string `json:"commit,omitempty"`
	// Modified is true when the work tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the Go toolchain's version, e.g. "go1.26.8".
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH, e.g. "linux/arm64".
	Platform string `json:"platform"`
	// Engines are the BitTorrent cores compiled in, the default first.
	Engines []Engine `json:"engines"`
	// UTP is true when uTP is compiled in: it needs cgo (libutp, C++), so
	// a CGO_ENABLED=0 build speaks TCP only.
	UTP bool `json:"utp"`
}

// Engine is one BitTorrent core.
type Engine struct {
	// Name is what `serve --engine` takes: "native" or "anacrolix".
	Name string `json:"name"`
	// Version is the core's version: Lodestone's own for native, the
	// github.com/anacrolix/torrent module's for anacrolix.
	Version string `json:"version"`
}

// Get returns this binary's Info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(bi, version, commit)
}

// fromBuildInfo builds the Info from the go command's build information
// (nil when the binary has none) and the linker stamps (empty when not
// stamped), which win.
func fromBuildInfo(bi *debug.BuildInfo, stampedVersion, stampedCommit string) Info {
	info := Info{
		Version:   stampedVersion,
		Commit:    stampedCommit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		// The test binaries and `go run` have cgo as the go command
		// decided; without build information, trust the toolchain's
		// default for a native build.
		UTP: true,
	}
	anacrolix := ""
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if stampedCommit == "" {
					info.Commit = s.Value
				}
			case "vcs.modified":
				if stampedCommit == "" {
					info.Modified = s.Value == "true"
				}
			case "CGO_ENABLED":
				info.UTP = s.Value == "1"
			}
		}
		for _, m := range bi.Deps {
			if m.Path == anacrolixModule {
				anacrolix = m.Version
				if m.Replace != nil {
					anacrolix = m.Replace.Version
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = Fallback
	}
	if stampedCommit != "" {
		// A stamp may carry a "+dirty" mark (scripts/build adds one).
		info.Commit, info.Modified = strings.CutSuffix(stampedCommit, "+dirty")
	}
	info.Engines = []Engine{{Name: "native", Version: info.Version}}
	if anacrolix != "" {
		info.Engines = append(info.Engines, Engine{Name: "anacrolix", Version: anacrolix})
	}
	return info
}

// UserAgent is Lodestone's name and version as an HTTP User-Agent,
// e.g. "Lodestone/v0.1.0".
func UserAgent() string {
	return "Lodestone/" + Get().Version
}
