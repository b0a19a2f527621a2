package native

import (
	"context"
	"crypto/sha1"
	"sync"
)

// Verify hashes the data already on disk and counts every piece that
// matches as had, two pieces at a time. Call it before adding peers: it
// does not coordinate with pieces being downloaded. Missing or short
// files are pieces not had, not errors; it returns the pieces had.
func (t *Torrent) Verify(ctx context.Context) (int, error) {
	n := len(t.meta.Hashes)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			buf := alignedBytes(int(t.meta.PieceLength))
			for i := range next {
				b := buf[:t.meta.pieceLen(i)]
				if t.store.readAt(b, int64(i)*t.meta.PieceLength) != nil {
					continue
				}
				if sha1.Sum(b) == t.meta.Hashes[i] {
					t.written(i)
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	t.mu.Lock()
	had := t.nhave
	t.mu.Unlock()
	return had, ctx.Err()
}
