package native

import (
	"context"
	"sync/atomic"

	"golang.org/x/time/rate"
)

// limit is a byte-rate limit that can change while in use; nil (the
// zero value) is no limit.
type limit struct{ l atomic.Pointer[rate.Limiter] }

// set changes the limit to bps bytes per second; 0 or less removes it.
func (l *limit) set(bps int64) {
	if bps <= 0 {
		l.l.Store(nil)
		return
	}
	// A burst of a tenth of a second, and never less than a block's
	// message, so that a limit smooths rather than stalls.
	l.l.Store(rate.NewLimiter(rate.Limit(bps), int(max(bps/10, 32<<10))))
}

// wait blocks until n bytes may pass, or ctx ends.
func (l *limit) wait(ctx context.Context, n int) error {
	lim := l.l.Load()
	if lim == nil {
		return nil
	}
	for n > 0 {
		k := min(n, lim.Burst())
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// SetRateLimits limits every torrent's download and upload together, in
// bytes per second; 0 is unlimited.
func (c *Client) SetRateLimits(down, up int64) {
	c.down.set(down)
	c.up.set(up)
}

// SetRateLimits limits this torrent's download and upload, in bytes per
// second, within the client's limits; 0 is unlimited.
func (t *Torrent) SetRateLimits(down, up int64) {
	t.down.set(down)
	t.up.set(up)
}

// waitDown paces n bytes received: the torrent's limit, then the client's.
func (t *Torrent) waitDown(n int) error {
	if err := t.down.wait(t.ctx, n); err != nil {
		return err
	}
	return t.c.down.wait(t.ctx, n)
}

// waitUp paces n bytes about to be sent.
func (t *Torrent) waitUp(n int) error {
	if err := t.up.wait(t.ctx, n); err != nil {
		return err
	}
	return t.c.up.wait(t.ctx, n)
}
