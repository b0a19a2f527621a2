package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
)

// BenchmarkSend measures acknowledged commands per second through one
// server of the three, into an R3 stream, with GOMAXPROCS×1 and
// GOMAXPROCS×16 concurrent senders (an API node serving many clients).
func BenchmarkSend(b *testing.B) {
	c := sharedCluster(b)
	for _, senders := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", senders), func(b *testing.B) {
			bs := newBus(b, c.connect(0), testConfig(uniquePrefix("bench")))
			var n sync.Mutex
			i := 0
			next := func() string {
				n.Lock()
				defer n.Unlock()
				i++
				return strconv.Itoa(i)
			}
			b.SetParallelism(senders)
			b.ResetTimer()
			start := time.Now()
			// RunParallel starts GOMAXPROCS*parallelism goroutines.
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					s, err := bs.Send(context.Background(), "n", bus.Command{ID: next(), Method: "task.pause", Params: json.RawMessage(`{"id":"0123456789abcdef"}`)})
					if err != nil {
						b.Error(err)
						return
					}
					s.Close()
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cmds/s")
		})
	}
}

// BenchmarkEventLatency measures publish → subscriber delivery of events
// to 100 subscribers spread over the three servers, publishing one event
// every 5 ms through server 0; it reports p50 and p99 over all deliveries.
// Run it bounded: -benchtime=200x.
func BenchmarkEventLatency(b *testing.B) {
	const subscribers = 100
	c := sharedCluster(b)
	cfg := testConfig(uniquePrefix("lat"))
	buses := []*bus.Bus{newBus(b, c.connect(0), cfg), newBus(b, c.connect(1), cfg), newBus(b, c.connect(2), cfg)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, err := buses[0].Publish(ctx, "p", "start", json.RawMessage(`0`))
	if err != nil {
		b.Fatal(err)
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
		// ready counts subscribers that have not yet got the marker.
		ready sync.WaitGroup
	)
	for i := range subscribers {
		sub, err := buses[i%3].Subscribe(ctx, start-1)
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			// The first event is the start marker: the subscription
			// is set up (its consumer created) once it came.
			_, ok := <-sub.C()
			ready.Done()
			if !ok {
				b.Error("subscription ended")
				return
			}
			var mine []time.Duration
			for n := 0; n < b.N; n++ {
				e, ok := <-sub.C()
				if !ok {
					b.Error("subscription ended")
					return
				}
				sent, _ := strconv.ParseInt(string(e.Data), 10, 64)
				mine = append(mine, time.Since(time.Unix(0, sent)))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	ready.Wait()
	b.ResetTimer()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for range b.N {
		<-tick.C
		if _, err := buses[0].Publish(ctx, "p", "task.progress", json.RawMessage(strconv.FormatInt(time.Now().UnixNano(), 10))); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}
