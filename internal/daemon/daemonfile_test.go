package daemon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// The daemon file: written mode 0600 in the data dir and the runtime dir
// once the API listens, with a loopback URL for a daemon listening on all
// addresses and where the token is; removed by Close. A token given as a
// value is in neither file.
func TestDaemonFile(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(cfg *daemon.Config, dir string)
		source    string
		tokenFile func(cfg daemon.Config) string
	}{
		{"generated", func(cfg *daemon.Config, _ string) { cfg.Token = "" }, api.TokenSourceGenerated,
			func(cfg daemon.Config) string { return filepath.Join(cfg.DataDir, daemon.TokenFile) }},
		{"file", func(cfg *daemon.Config, dir string) { cfg.TokenFile = filepath.Join(dir, "tok") }, api.TokenSourceFile,
			func(cfg daemon.Config) string { return cfg.TokenFile }},
		{"given", func(*daemon.Config, string) {}, api.TokenSourceGiven, func(daemon.Config) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dirs := daemontest.NewDirs(t)
			cfg := daemontest.Config(t, dirs, false)
			cfg.APIAddr = "0.0.0.0:0" // reachable from elsewhere: the file names loopback
			cfg.RuntimeDir = filepath.Join(t.TempDir(), "lodestone")
			tt.edit(&cfg, t.TempDir())
			if cfg.Token == "" {
				cfg.APIAddr = "127.0.0.1:0" // a generated token needs loopback
			}
			d, err := daemon.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			_, port, _ := strings.Cut(d.APIAddr(), "]:")
			if port == "" {
				_, port, _ = strings.Cut(d.APIAddr(), ":")
			}
			want := api.DaemonFile{PID: os.Getpid(), APIURL: "ws://127.0.0.1:" + port + api.Path, DataDir: cfg.DataDir,
				TokenSource: tt.source, TokenFile: tt.tokenFile(cfg)}
			paths := []string{filepath.Join(cfg.DataDir, api.DaemonFileName), filepath.Join(cfg.RuntimeDir, fmt.Sprintf("daemon-%d.json", os.Getpid()))}
			for _, p := range paths {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				var got api.DaemonFile
				if err := json.Unmarshal(b, &got); err != nil || got != want {
					t.Errorf("%s: %s (%v), want %+v", p, b, err, want)
				}
				if strings.Contains(string(b), daemontest.Token) {
					t.Errorf("%s holds the token", p)
				}
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, %v", p, fi.Mode(), err)
				}
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			for _, p := range paths {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s after Close: %v", p, err)
				}
			}
		})
	}
}
