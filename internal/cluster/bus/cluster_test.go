package bus_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// TestMain fails the package if any goroutine (a server's, a consumer's)
// outlives the tests.
// The shared cluster, started by the first test that needs it, is shut
// down before the check.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Close()
		_ = os.RemoveAll(sharedDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	sharedOnce sync.Once
	shared     *natsnodetest.Embedded
	sharedDir  string
	sharedErr  error
)

// sharedCluster is one three-server cluster for the tests that do not stop
// a server; they keep apart by their own subject prefixes. Starting a
// JetStream cluster costs seconds, so each test starting its own would
// not fit the package's time budget.
func sharedCluster(t testing.TB) *natsCluster {
	t.Helper()
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "bus-test-")
		if sharedErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			shared, sharedErr = natsnodetest.StartEmbedded(ctx, sharedDir, "lodestone-test", 3)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return &natsCluster{t: t, Embedded: shared}
}

// natsCluster is three embedded NATS servers with JetStream, routed into one
// cluster on loopback, each with its own store dir, restartable on the same
// ports (natsnodetest.Embedded), as seen by one test.
type natsCluster struct {
	t testing.TB
	*natsnodetest.Embedded
}

// startCluster starts a cluster of the test's own, shut down at cleanup:
// for a test that stops servers.
func startCluster(t testing.TB) *natsCluster {
	t.Helper()
	return &natsCluster{t: t, Embedded: natsnodetest.EmbeddedCluster(t, "lodestone-test", 3)}
}

// start starts server i again on its ports and store dir.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Start(ctx, i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *natsCluster) stop(i int) { c.Stop(i) }

// connect opens a client to server i (others as fallbacks), closed at cleanup.
func (c *natsCluster) connect(i int) *nats.Conn {
	c.t.Helper()
	urls := []string{c.URLs[i]}
	for j, u := range c.URLs {
		if j != i {
			urls = append(urls, u)
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

var prefixes atomic.Int64

// uniquePrefix makes a test's subject prefix unique in the process, so that
// with -count=N a run does not see the streams of the one before on the
// shared cluster.
func uniquePrefix(name string) string {
	return fmt.Sprintf("%s%d", name, prefixes.Add(1))
}

// testConfig is Default with R3, the prefix and short retry times.
func testConfig(prefix string) bus.Config {
	cfg := bus.Default()
	cfg.Prefix = prefix
	cfg.Replicas = bus.Replicas(3)
	cfg.AckWait = 2 * time.Second
	cfg.RetryDelay = 50 * time.Millisecond
	cfg.MaxDeliver = 3
	cfg.EventMaxBytes = 16 << 20 // JetStream reserves it per stream on every replica
	return cfg
}

// newBus creates the bus on nc, retrying while the JetStream meta group
// elects its leader after the cluster started.
func newBus(t testing.TB, nc *nats.Conn, cfg bus.Config) *bus.Bus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := bus.New(ctx, nc, cfg)
		cancel()
		if err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("bus.New: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
