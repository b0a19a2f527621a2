package store

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkPutTaskParallel writes tasks from 1, 8 and 64 goroutines at
// once and reports acknowledged (durable) writes per second.
func BenchmarkPutTaskParallel(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var wg sync.WaitGroup
			errs := make(chan error, n)
			b.ResetTimer()
			start := time.Now()
			for w := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < b.N; i += n {
						t := Task{ID: fmt.Sprintf("%040x", i%1000), Name: "bench", Size: int64(i)}
						if err := s.PutTask(t); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
		})
	}
}
