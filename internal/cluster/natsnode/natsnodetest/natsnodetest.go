// Package natsnodetest starts embedded NATS servers with JetStream on
// loopback for tests: one alone, or several routed into one NATS cluster,
// each with its own temporary store dir.
package natsnodetest

import (
	"context"
	"fmt"
	"net"
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
	o := natsnode.Options{
		Name:        fmt.Sprintf("n%d", i),
		ClusterName: cluster,
		StoreDir:    t.TempDir(),
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
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	// Usually a few seconds; but the servers elect a JetStream meta leader
	// with Raft election timeouts of 4-9 s that cannot be shortened from
	// outside the server package, and a split vote costs another round.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := make([]*natsnode.Node, n)
	errs := make(chan error, n)
	// Start concurrently: a clustered server's JetStream answers only once
	// a majority of its peers is up.
	for i := range nodes {
		go func() {
			nd, err := natsnode.Start(ctx, Options(t, cluster, i, ports))
			nodes[i] = nd
			errs <- err
		}()
	}
	var first error
	for range nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			if nd != nil {
				nd.Shutdown()
			}
		}
	})
	if first != nil {
		t.Fatal(first)
	}
	return nodes
}
