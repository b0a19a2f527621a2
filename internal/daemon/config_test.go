package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	base := Config{APIAddr: "127.0.0.1:6810", DataDir: "/tmp/ls/data", DownloadDir: "/tmp/ls/dl"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"default loopback", func(*Config) {}, ""},
		{"localhost", func(c *Config) { c.APIAddr = "localhost:1" }, ""},
		{"ipv6 loopback", func(c *Config) { c.APIAddr = "[::1]:1" }, ""},
		{"all interfaces without token", func(c *Config) { c.APIAddr = ":6810" }, "explicit --token"},
		{"lan address without token", func(c *Config) { c.APIAddr = "192.168.1.2:6810" }, "explicit --token"},
		{"all interfaces with token", func(c *Config) { c.APIAddr = "0.0.0.0:6810"; c.Token = "Zq3-u8_Lw0pXv2Rk7Nn4Yb" }, ""},
		{"short token (issue 15, item 11)", func(c *Config) { c.APIAddr = "0.0.0.0:6810"; c.Token = "1234" }, "token too weak"},
		{"21 characters", func(c *Config) { c.Token = "Zq3-u8_Lw0pXv2Rk7Nn4Y" }, "token too weak"},
		{"outside the URL-safe alphabet", func(c *Config) { c.Token = "Zq3-u8_Lw0pXv2Rk7Nn4Y/" }, "token too weak"},
		{"bad addr", func(c *Config) { c.APIAddr = "nope" }, "api-addr"},
		{"data inside downloads", func(c *Config) { c.DataDir = "/tmp/ls/dl/state" }, "must not be inside"},
		{"same dir", func(c *Config) { c.DataDir = c.DownloadDir }, "must not be inside"},
		{"bad peer addr", func(c *Config) { c.PeerAddr = "x" }, "peer-addr"},
		{"native engine", func(c *Config) { c.Engine = "native" }, ""},
		{"unknown engine", func(c *Config) { c.Engine = "libtorrent" }, "engine \"libtorrent\""},
		{"socks5 proxy", func(c *Config) { c.Proxy = "socks5://me:pw@127.0.0.1:1080" }, ""},
		{"http proxy", func(c *Config) { c.Proxy = "http://me:pw@127.0.0.1:3128" }, "only socks5"},
		{"proxy without port", func(c *Config) { c.Proxy = "socks5://127.0.0.1" }, "proxy"},
		{"encryption required", func(c *Config) { c.Encryption = "require" }, ""},
		{"encryption default", func(c *Config) { c.Encryption = "" }, ""},
		{"unknown encryption", func(c *Config) { c.Encryption = "forced" }, "encryption \"forced\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// Validate refuses a download dir or root that contains the data dir or
// lies inside it, after resolving symlinks, whether or not the dirs exist
// yet (issue 15, item 2). The old code compared the download dir only,
// by name.
func TestValidateDataDirApart(t *testing.T) {
	base := t.TempDir()
	home := filepath.Join(base, "home")
	data := filepath.Join(home, ".local", "share", "lodestone")
	os.MkdirAll(data, 0o700)
	link := filepath.Join(base, "link")
	if err := os.Symlink(home, link); err != nil {
		t.Fatal(err)
	}
	ok := Config{APIAddr: "127.0.0.1:6810", DataDir: data, DownloadDir: filepath.Join(home, "Downloads")}
	for _, tc := range []struct {
		name string
		edit func(c *Config)
		want string // "" means valid
	}{
		{"apart", func(*Config) {}, ""},
		{"a sibling root", func(c *Config) { c.DownloadRoots = []string{filepath.Join(home, "media")} }, ""},
		{"root contains it", func(c *Config) { c.DownloadRoots = []string{home} }, "must not be inside download dir"},
		{"root is a link to a dir containing it", func(c *Config) { c.DownloadRoots = []string{link} }, "must not be inside download dir"},
		{"download dir through a link", func(c *Config) { c.DownloadDir = filepath.Join(link, ".local") }, "must not be inside download dir"},
		{"data dir through a link", func(c *Config) {
			c.DataDir = filepath.Join(link, ".local", "share", "lodestone")
			c.DownloadRoots = []string{home}
		}, "must not be inside download dir"},
		{"root inside it, not there yet", func(c *Config) { c.DownloadRoots = []string{filepath.Join(data, "new", "dir")} }, "must not be inside data-dir"},
		{"download dir inside it through a link", func(c *Config) { c.DownloadDir = filepath.Join(link, ".local", "share", "lodestone", "dl") }, "must not be inside data-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want an error about %q", err, tc.want)
			}
		})
	}
}
