package bus_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
)

// TestMain fails the package if any goroutine (a server's, a consumer's)
// outlives the tests.
// The shared cluster, started by the first test that needs it, is shut
// down before the check.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.shutdown()
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
	shared     *natsCluster
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
			shared, sharedErr = newCluster(sharedDir)
		}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return &natsCluster{t: t, opts: shared.opts, servers: shared.servers}
}

// natsCluster is three embedded NATS servers with JetStream, routed into one
// cluster on loopback, each with its own store dir. The lead will replace
// this helper with internal/cluster/natsnode.
type natsCluster struct {
	t       testing.TB
	opts    []*server.Options
	servers []*server.Server
}

// freePorts returns n distinct loopback ports free at the time of the call.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startCluster starts a cluster of the test's own, shut down at cleanup:
// for a test that stops servers.
func startCluster(t testing.TB) *natsCluster {
	t.Helper()
	c, err := newCluster(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.t = t
	t.Cleanup(c.shutdown)
	return c
}

func newCluster(dir string) (*natsCluster, error) {
	const n = 3
	ports, err := freePorts(2 * n) // client and route port of each: fixed so a restart keeps them
	if err != nil {
		return nil, err
	}
	var routes []string
	for i := range n {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[n+i]))
	}
	c := &natsCluster{}
	for i := range n {
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("s%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("s%d", i)),
			Cluster: server.ClusterOpts{
				Name: "lodestone-test",
				Host: "127.0.0.1",
				Port: ports[n+i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
			NoLog:  true,
			NoSigs: true,
		})
	}
	c.servers = make([]*server.Server, n)
	for i := range n {
		if err := c.startErr(i); err != nil {
			c.shutdown()
			return nil, err
		}
	}
	return c, nil
}

func (c *natsCluster) startErr(i int) error {
	s, err := server.NewServer(c.opts[i])
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(20 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("server %d not ready", i)
	}
	c.servers[i] = s
	return nil
}

// start starts server i again on its ports and store dir.
func (c *natsCluster) start(i int) {
	c.t.Helper()
	if err := c.startErr(i); err != nil {
		c.t.Fatal(err)
	}
}

func (c *natsCluster) stop(i int) {
	if s := c.servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.servers[i] = nil
	}
}

func (c *natsCluster) shutdown() {
	for i := range c.servers {
		c.stop(i)
	}
}

// url of server i; connect lists every server so a client fails over.
func (c *natsCluster) url(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port)
}

// connect opens a client to server i (others as fallbacks), closed at cleanup.
func (c *natsCluster) connect(i int) *nats.Conn {
	c.t.Helper()
	urls := []string{c.url(i)}
	for j := range c.opts {
		if j != i {
			urls = append(urls, c.url(j))
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
