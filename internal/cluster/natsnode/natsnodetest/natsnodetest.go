// Package natsnodetest starts NATS servers with JetStream on loopback for
// tests, each with its own temporary store dir: embedded servers, one alone
// or several routed into one NATS cluster (Cluster, Embedded), and Debian's
// nats-server binary as an external cluster (Debian). Both cluster kinds
// restart a server on the same ports and store.
package natsnodetest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
)

// FreePort returns a loopback TCP port that was free a moment ago. Routes
// between embedded servers need every server's port before any starts.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Options returns the options of node i of a routed cluster whose route
// ports are ports, with a fresh store dir.
func Options(t testing.TB, cluster string, i int, ports []int) natsnode.Options {
	o := options(cluster, i, ports)
	o.StoreDir = t.TempDir()
	return o
}

func options(cluster string, i int, ports []int) natsnode.Options {
	o := natsnode.Options{
		Name:        fmt.Sprintf("n%d", i),
		ClusterName: cluster,
	}
	if len(ports) > 1 {
		o.ClusterListen = fmt.Sprintf("127.0.0.1:%d", ports[i])
		for j, p := range ports {
			if j != i {
				o.Routes = append(o.Routes, fmt.Sprintf("127.0.0.1:%d", p))
			}
		}
	}
	return o
}

// Cluster starts n embedded servers routed into one NATS cluster named
// cluster (n == 1: a standalone server) and waits until JetStream answers
// on every one. The nodes are shut down when the test ends.
func Cluster(t testing.TB, cluster string, n int) []*natsnode.Node {
	t.Helper()
	return EmbeddedCluster(t, cluster, n).Nodes()
}

// Embedded is n embedded servers routed into one NATS cluster on loopback,
// each with its own store dir and fixed client and route ports, so that a
// server stopped and started again comes back as itself (a restart). The
// same shape as Debian, in process.
type Embedded struct {
	// URLs are the servers' client URLs, one per server in order; they
	// stay the same across Stop and Start.
	URLs []string
	// Names are the servers' names, as JetStream reports them in stream
	// and meta leader info.
	Names []string

	opts []natsnode.Options

	// mu guards nodes; an entry is nil while its server is stopped.
	mu    sync.Mutex
	nodes []*natsnode.Node
}

// EmbeddedCluster starts an Embedded cluster whose store dirs are under the
// test's temporary dir, shut down when the test ends.
func EmbeddedCluster(t testing.TB, cluster string, n int) *Embedded {
	t.Helper()
	// Usually a few seconds; but the servers elect a JetStream meta leader
	// with Raft election timeouts of 4-9 s that cannot be shortened from
	// outside the server package, and a split vote costs another round.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, t.TempDir(), cluster, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// StartEmbedded starts n embedded servers with store dirs under dir, for a
// caller that outlives one test (a package's shared cluster); it must call
// Close. It returns once JetStream answers on every server; on error
// nothing is left running.
func StartEmbedded(ctx context.Context, dir, cluster string, n int) (*Embedded, error) {
	e := &Embedded{nodes: make([]*natsnode.Node, n)}
	ports, err := freePorts(2 * n) // client and route port of each
	if err != nil {
		return nil, err
	}
	for i := range n {
		o := options(cluster, i, ports[n:])
		o.StoreDir = filepath.Join(dir, o.Name)
		o.Listen = fmt.Sprintf("127.0.0.1:%d", ports[i])
		o.Logger = slog.New(slog.DiscardHandler) // restarts make the servers chatty
		e.opts = append(e.opts, o)
		e.URLs = append(e.URLs, "nats://"+o.Listen)
		e.Names = append(e.Names, o.Name)
	}
	errs := make(chan error, n)
	// Start concurrently: a clustered server's JetStream answers only once
	// a majority of its peers is up.
	for i := range n {
		go func() { errs <- e.Start(ctx, i) }()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		e.Close()
		return nil, first
	}
	return e, nil
}

// Nodes returns the running servers' nodes (nil for a stopped one), each
// with its own client connection and JetStream context.
func (e *Embedded) Nodes() []*natsnode.Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.nodes)
}

// Index returns the index of the server named name, or -1.
func (e *Embedded) Index(name string) int {
	return slices.Index(e.Names, name)
}

// Start starts server i (again, after Stop) on its ports and store dir and
// waits, within ctx, until JetStream answers through it.
func (e *Embedded) Start(ctx context.Context, i int) error {
	e.mu.Lock()
	running := e.nodes[i] != nil
	e.mu.Unlock()
	if running {
		return fmt.Errorf("natsnodetest: server %s is running", e.Names[i])
	}
	nd, err := natsnode.Start(ctx, e.opts[i])
	if err != nil {
		return fmt.Errorf("natsnodetest: start %s: %w", e.Names[i], err)
	}
	e.mu.Lock()
	e.nodes[i] = nd
	e.mu.Unlock()
	return nil
}

// Stop shuts server i down gracefully and waits until it has stopped.
func (e *Embedded) Stop(i int) {
	e.mu.Lock()
	nd := e.nodes[i]
	e.nodes[i] = nil
	e.mu.Unlock()
	if nd != nil {
		nd.Shutdown()
	}
}

// Close stops every server; it is safe to call more than once.
func (e *Embedded) Close() {
	for i := range e.nodes {
		e.Stop(i)
	}
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // all held until all are chosen, so they differ
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}
