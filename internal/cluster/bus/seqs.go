package bus

import (
	"context"
	"fmt"
	"time"
)

// EventSeqs returns the sequences of the oldest and newest events the
// event stream holds, as its leader answers. Everything at or below
// first-1 was trimmed by the age or byte limit; an empty stream answers
// first = last+1 (or 0, 0 before its first event). A passing condition (a
// leader election) is retried until ctx ends.
func (b *Bus) EventSeqs(ctx context.Context) (first, last uint64, err error) {
	for {
		first, last, err = b.eventSeqsOnce(ctx)
		if err == nil || !transient(err) {
			return first, last, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *Bus) eventSeqsOnce(ctx context.Context) (first, last uint64, err error) {
	// Stream asks for the stream's info (its leader answers); that answer
	// is what CachedInfo returns.
	stream, err := b.js.Stream(ctx, b.eventStream)
	if err != nil {
		return 0, 0, fmt.Errorf("bus: stream %s: %w", b.eventStream, err)
	}
	info := stream.CachedInfo()
	return info.State.FirstSeq, info.State.LastSeq, nil
}
