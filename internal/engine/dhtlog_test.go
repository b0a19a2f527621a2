package engine

import (
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// With the DHT on and no network (the tests' namespace has only
// loopback, so the DHT's public routers do not resolve), each core logs
// one warning that says so, not an error per DHT node and attempt
// (issue 19), and raises no alert for it.
func TestDHTNoNetworkOneWarning(t *testing.T) {
	// The DHT starts from the public routers: this test must run where
	// nothing can reach them (scripts/test's namespace), never on a host
	// with a network.
	if ifs := upInterfaces(t); len(ifs) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("interfaces %v are up: the DHT would reach the internet", ifs)
		}
		t.Skipf("interfaces %v are up; run it in a namespace with only loopback: unshare --net --map-root-user", ifs)
	}
	for _, core := range []string{CoreNative, CoreAnacrolix} {
		t.Run(core, func(t *testing.T) {
			var logs syncbuf.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			e, err := New(Config{Core: core, DownloadDir: t.TempDir(), StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", DHT: true, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			const warning = "DHT: none of its starting nodes resolved"
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(logs.String(), warning) {
				if time.Now().After(deadline) {
					t.Fatalf("no %q in 30 s; the log:\n%s", warning, logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			// The anacrolix core's two nodes (IPv4, IPv6) fail together;
			// a second look a moment later finds no more.
			time.Sleep(2 * time.Second)
			out := logs.String()
			if n := strings.Count(out, "nothing resolved") + strings.Count(out, warning); n != 1 {
				t.Errorf("%d lines about the DHT's unresolved starting nodes, want 1:\n%s", n, out)
			}
			if strings.Contains(out, "level=ERROR") {
				t.Errorf("an error was logged:\n%s", out)
			}
			select {
			case a := <-e.Alerts():
				t.Errorf("alert %+v", a)
			default:
			}
		})
	}
}

// upInterfaces returns the names of the interfaces up besides loopback.
func upInterfaces(t *testing.T) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var up []string
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			up = append(up, i.Name)
		}
	}
	return up
}
