package daemon_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// The session.set settings a configuration gives (issue 19): the later
// change wins. A configured value is applied at start when it changed
// since last applied, and by Reconfigure (SIGHUP); a session.set value
// lasts until the configuration changes.
func TestConfiguredSettings(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	list := filepath.Join(t.TempDir(), "block.txt")
	if err := os.WriteFile(list, []byte("198.51.100.0/24\n203.0.113.0/24\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(c daemon.Configured) *daemontest.Daemon {
		return daemontest.Start(t, daemontest.Options{Dirs: dirs, Configure: func(cfg *daemon.Config) {
			cfg.Configured = &c
			cfg.Blocklists = c.Blocklists
		}})
	}
	get := func(d *daemontest.Daemon) api.Settings {
		t.Helper()
		set, err := d.Client(t).Settings(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}

	d := start(daemon.Configured{DownloadRateLimit: 1000, MaxActiveSeeds: 3, Blocklists: []string{list}})
	if s := get(d); s.DownloadRateLimit != 1000 || s.MaxActiveSeeds != 3 || !slices.Equal(s.Blocklists, []string{list}) || s.BlocklistRules != 2 {
		t.Fatalf("first start: %+v", s)
	}
	rate := int64(5000)
	if _, err := d.Client(t).SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{DownloadRateLimit: &rate}); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)

	// The same configuration: session.set's value stays.
	d = start(daemon.Configured{DownloadRateLimit: 1000, MaxActiveSeeds: 3, Blocklists: []string{list}})
	if s := get(d); s.DownloadRateLimit != 5000 || s.MaxActiveSeeds != 3 || s.BlocklistRules != 2 {
		t.Fatalf("restart, configuration unchanged: %+v", s)
	}
	d.Stop(t)

	// A changed configuration: its value wins; the lists it dropped
	// are gone.
	d = start(daemon.Configured{DownloadRateLimit: 2000, MaxActiveSeeds: 3})
	if s := get(d); s.DownloadRateLimit != 2000 || s.MaxActiveSeeds != 3 || len(s.Blocklists) != 0 || s.BlocklistRules != 0 {
		t.Fatalf("restart, configuration changed: %+v", s)
	}

	// A reload while running, through session.set's path.
	if err := d.Reconfigure(daemon.Configured{DownloadRateLimit: 2000, UploadRateLimit: 700, MaxActiveSeeds: 3, SeedRatioLimit: 1.5, Blocklists: []string{list}}); err != nil {
		t.Fatal(err)
	}
	if s := get(d); s.DownloadRateLimit != 2000 || s.UploadRateLimit != 700 || s.SeedRatioLimit != 1.5 || s.BlocklistRules != 2 {
		t.Fatalf("after Reconfigure: %+v", s)
	}
	// A value session.set refuses changes nothing.
	if err := d.Reconfigure(daemon.Configured{DownloadRateLimit: 2000, DownloadDir: "/not/a/download/root"}); err == nil {
		t.Fatal("Reconfigure took a download dir outside the roots")
	}
	if s := get(d); s.UploadRateLimit != 700 || s.DownloadDir != "" {
		t.Fatalf("after a refused Reconfigure: %+v", s)
	}
	d.Stop(t)
	if err := d.Reconfigure(daemon.Configured{}); err == nil {
		t.Error("Reconfigure after Close succeeded")
	}
}

// The network settings (issue 18's session.set fields) follow the same
// rule, at start only: a session.set value outlives restarts with the
// configuration unchanged, and a changed configuration drops it.
func TestConfiguredNetwork(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	start := func(enc string, anonymous bool) *daemontest.Daemon {
		return daemontest.Start(t, daemontest.Options{Dirs: dirs, Configure: func(cfg *daemon.Config) {
			cfg.Encryption, cfg.Anonymous = enc, anonymous
			cfg.Configured = &daemon.Configured{Encryption: enc, Anonymous: anonymous, ProxyOnly: true}
		}})
	}
	get := func(d *daemontest.Daemon) api.Settings {
		t.Helper()
		set, err := d.Client(t).Settings(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	// A daemon from before there was a configuration: session.set's
	// encryption and anonymity are kept by a first start that gives the
	// defaults.
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	require, yes := "require", true
	if _, err := d.Client(t).SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{Encryption: &require, Anonymous: &yes}); err != nil {
		t.Fatal(err)
	}
	d.Stop(t)
	d = start("prefer", false)
	if s := get(d); s.Encryption != "require" || !s.Anonymous {
		t.Fatalf("first configured start: encryption %q, anonymous %v; want session.set's require, true", s.Encryption, s.Anonymous)
	}
	d.Stop(t)
	// The configuration changes encryption: its value wins; anonymous,
	// unchanged, stays session.set's.
	d = start("disable", false)
	if s := get(d); s.Encryption != "disable" || !s.Anonymous || len(s.RestartRequired) != 0 {
		t.Fatalf("configuration changed: encryption %q, anonymous %v, restart %v", s.Encryption, s.Anonymous, s.RestartRequired)
	}
	d.Stop(t)
	d = start("disable", false)
	if s := get(d); s.Encryption != "disable" || !s.Anonymous {
		t.Fatalf("restart, unchanged: encryption %q, anonymous %v", s.Encryption, s.Anonymous)
	}
	// A reload changes it while running, through session.set; the
	// unchanged anonymous stays session.set's.
	if err := d.Reconfigure(daemon.Configured{Encryption: "require", ProxyOnly: true}); err != nil {
		t.Fatal(err)
	}
	if s := get(d); s.Encryption != "require" || !s.Anonymous {
		t.Fatalf("after Reconfigure: encryption %q, anonymous %v", s.Encryption, s.Anonymous)
	}
	d.Stop(t)
	d = start("require", false)
	if s := get(d); s.Encryption != "require" || !s.Anonymous {
		t.Fatalf("restart after the reload: encryption %q, anonymous %v", s.Encryption, s.Anonymous)
	}
}

// Reconfigure and Close may race (a SIGHUP just before SIGTERM): Close
// waits for a Reconfigure under way, and the later ones are refused. Run
// with -race.
func TestReconfigureDuringClose(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Configure: func(cfg *daemon.Config) {
		cfg.Configured = &daemon.Configured{ProxyOnly: true}
	}})
	done := make(chan error, 1)
	go func() {
		for i := int64(1); ; i++ {
			if err := d.Reconfigure(daemon.Configured{DownloadRateLimit: i, ProxyOnly: true}); err != nil {
				done <- err
				return
			}
		}
	}()
	d.Stop(t)
	select {
	case err := <-done:
		if !errors.Is(err, daemon.ErrClosed) {
			t.Errorf("Reconfigure during Close: %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Reconfigure still succeeds 30s after Close")
	}
}
