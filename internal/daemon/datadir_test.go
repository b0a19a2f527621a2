package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// The daemon refuses to start with a download dir or root that contains
// its data dir or lies inside it, also when a symlink hides it (issue 15,
// item 2): with a root of $HOME and the default data dir, a torrent
// named ".local" rewrote the token file. Nothing is written to the data
// dir (no token is generated). The old code checked the download dir
// only, by name, and started.
func TestDataDirApartAtStart(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(cfg *daemon.Config, home, data string)
	}{
		{"root is home", func(c *daemon.Config, home, _ string) {
			c.DownloadRoots = []string{home}
		}},
		{"root is a link to home", func(c *daemon.Config, home, _ string) {
			link := filepath.Join(filepath.Dir(home), "home-link")
			mustSymlink(t, home, link)
			c.DownloadRoots = []string{link}
		}},
		{"download dir is a link to home", func(c *daemon.Config, home, _ string) {
			link := filepath.Join(filepath.Dir(home), "dl-link")
			mustSymlink(t, home, link)
			c.DownloadDir = link
		}},
		{"root inside the data dir", func(c *daemon.Config, _, data string) {
			c.DownloadRoots = []string{filepath.Join(data, "engine")}
		}},
		{"download dir links into the data dir", func(c *daemon.Config, home, data string) {
			link := filepath.Join(home, "Downloads", "state")
			mustSymlink(t, data, link)
			c.DownloadDir = filepath.Join(link, "dl")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			home := filepath.Join(base, "home")
			data := filepath.Join(home, ".local", "share", "lodestone")
			dl := filepath.Join(home, "Downloads")
			for _, d := range []string{data, dl} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			cfg := daemontest.Config(t, daemontest.Dirs{Data: data, Download: dl}, false)
			cfg.Token = "" // one would be generated and written to the data dir
			tc.edit(&cfg, home, data)
			d, err := daemon.New(cfg)
			if err == nil {
				d.Close()
				t.Fatal("the daemon started")
			}
			if !strings.Contains(err.Error(), "data-dir") {
				t.Errorf("error %q does not name the data dir", err)
			}
			if ents, _ := os.ReadDir(data); len(ents) != 0 {
				t.Errorf("the data dir was written: %v", ents)
			}
		})
	}
}

func mustSymlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
