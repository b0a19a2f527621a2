package rpc_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
	"github.com/lodestone-bt/lodestone/internal/cluster/rpc"
)

// BenchmarkRoundTrip measures one call at a time from server 0 to a node
// served through server 2 (so each request and answer crosses a route),
// for a 500 B answer (a task.get) and a 2 MB one (a task.list of ~3,000
// tasks, 8 parts), and reports the latency's p50 and p99 in ms.
func BenchmarkRoundTrip(b *testing.B) {
	nodes := natsnodetest.Cluster(b, "rpcbench", 3)
	answers := map[string][]byte{
		"500B": randomBytes(5, 500),
		"2MB":  randomBytes(6, 2_000_000),
	}
	stop, err := rpc.Serve(context.Background(), nodes[2].Conn, "bench", "b",
		func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
			return answers[method], nil
		}, testLog(b))
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	for deadline := time.Now().Add(30 * time.Second); !nodes[0].Server.GlobalAccount().SubscriptionInterest(rpc.Subject("bench", "b")); {
		if time.Now().After(deadline) {
			b.Fatal("server 0 never learnt of the subscription")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, size := range []string{"500B", "2MB"} {
		b.Run(size, func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.SetBytes(int64(len(answers[size])))
			for b.Loop() {
				start := time.Now()
				res, err := rpc.Call(b.Context(), nodes[0].Conn, "bench", "b", size, nil)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				if len(res) != len(answers[size]) {
					b.Fatalf("answer of %d bytes, want %d", len(res), len(answers[size]))
				}
			}
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
