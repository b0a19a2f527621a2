package daemon_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// anacrolix/torrent v1.62.0 (the anacrolix core) never closes the
		// tracker clients its announce dispatcher makes, one per tracker
		// URL: a udp:// tracker's client keeps its socket, and this
		// goroutine reading it, after the engine's Client is closed.
		goleak.IgnoreAnyFunction("github.com/anacrolix/torrent/tracker/udp.(*ConnClient).reader"),
	)
}
