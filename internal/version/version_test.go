package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	deps := []*debug.Module{
		{Path: "go.etcd.io/bbolt", Version: "v1.4.3"},
		{Path: "github.com/anacrolix/torrent", Version: "v1.62.0"},
	}
	vcs := []debug.BuildSetting{
		{Key: "CGO_ENABLED", Value: "1"},
		{Key: "vcs.revision", Value: "c1e4180aaaabbbbccccddddeeeeffff000011112"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name             string
		bi               *debug.BuildInfo
		stampV, stampC   string
		want             Info
		wantAnacrolixVer string
	}{{
		name: "stamped release",
		bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Deps: deps,
			Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "1"}}},
		stampV: "v1.2.3", stampC: "0123456789abcdef",
		want:             Info{Version: "v1.2.3", Commit: "0123456789abcdef", GoVersion: "go1.26.8", UTP: true},
		wantAnacrolixVer: "v1.62.0",
	}, {
		name: "stamped from a dirty tree",
		bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Deps: deps,
			Settings: []debug.BuildSetting{{Key: "CGO_ENABLED", Value: "0"}}},
		stampV: "v1.2.3", stampC: "0123456789abcdef+dirty",
		want:             Info{Version: "v1.2.3", Commit: "0123456789abcdef", Modified: true, GoVersion: "go1.26.8", UTP: false},
		wantAnacrolixVer: "v1.62.0",
	}, {
		name:   "stamp wins over vcs settings",
		bi:     &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207081000-c1e4180aaaab+dirty"}, Deps: deps, Settings: vcs},
		stampV: "v2.0.0", stampC: "feedface",
		want:             Info{Version: "v2.0.0", Commit: "feedface", GoVersion: "go1.26.8", UTP: true},
		wantAnacrolixVer: "v1.62.0",
	}, {
		name:             "go build in a clone",
		bi:               &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207081000-c1e4180aaaab+dirty"}, Deps: deps, Settings: vcs},
		want:             Info{Version: "v0.0.0-20261207081000-c1e4180aaaab+dirty", Commit: "c1e4180aaaabbbbccccddddeeeeffff000011112", Modified: true, GoVersion: "go1.26.8", UTP: true},
		wantAnacrolixVer: "v1.62.0",
	}, {
		name: "no vcs, devel",
		bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
		want: Info{Version: Fallback, GoVersion: "go1.26.8", UTP: true},
	}, {
		name:             "replaced engine module",
		bi:               &debug.BuildInfo{GoVersion: "go1.26.8", Deps: []*debug.Module{{Path: "github.com/anacrolix/torrent", Version: "v1.62.0", Replace: &debug.Module{Path: "../torrent", Version: "v1.62.1"}}}},
		want:             Info{Version: Fallback, GoVersion: "go1.26.8", UTP: true},
		wantAnacrolixVer: "v1.62.1",
	}, {
		name: "no build information",
		want: Info{Version: Fallback, GoVersion: runtime.Version(), UTP: true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.bi, tt.stampV, tt.stampC)
			if got.Version != tt.want.Version || got.Commit != tt.want.Commit || got.Modified != tt.want.Modified ||
				got.GoVersion != tt.want.GoVersion || got.UTP != tt.want.UTP {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got.Platform != runtime.GOOS+"/"+runtime.GOARCH {
				t.Errorf("Platform = %q", got.Platform)
			}
			want := []Engine{{"native", tt.want.Version}}
			if tt.wantAnacrolixVer != "" {
				want = append(want, Engine{"anacrolix", tt.wantAnacrolixVer})
			}
			if len(got.Engines) != len(want) {
				t.Fatalf("Engines = %v, want %v", got.Engines, want)
			}
			for i := range want {
				if got.Engines[i] != want[i] {
					t.Errorf("Engines = %v, want %v", got.Engines, want)
				}
			}
		})
	}
}

// TestGetInThisBinary reads this test binary's real build information:
// the anacrolix core is linked into every Lodestone binary, but not into
// this test, so only the native core is listed; the version falls back.
func TestGetInThisBinary(t *testing.T) {
	info := Get()
	if info.Version == "" || info.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v", info)
	}
	if len(info.Engines) == 0 || info.Engines[0].Name != "native" {
		t.Errorf("Engines = %v, want native first", info.Engines)
	}
	if ua := UserAgent(); !strings.HasPrefix(ua, "Lodestone/v") {
		t.Errorf("UserAgent() = %q", ua)
	}
}
