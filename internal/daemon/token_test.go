package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// With no token given, one is generated on first start, stored with mode
// 0600, accepted by the API, and reused after a restart.
func TestGeneratedToken(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	start := func() *daemon.Daemon {
		cfg := daemontest.Config(t, dirs, false)
		cfg.Token = ""
		d, err := daemon.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := start()
	tok := d.Token()
	if len(tok) < 32 {
		t.Fatalf("generated token %q is too short", tok)
	}
	fi, err := os.Stat(filepath.Join(dirs.Data, daemon.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	c, err := client.Dial(ctxT(t, 5*time.Second), "ws://"+d.APIAddr()+"/ws", tok)
	if err != nil {
		t.Fatalf("dial with the generated token: %v", err)
	}
	if _, err := c.ListTasks(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("daemon run: %v", err)
	}

	d2 := start()
	if d2.Token() != tok {
		t.Errorf("token after restart %q, want the stored %q", d2.Token(), tok)
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
}
