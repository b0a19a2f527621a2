package tasklist

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

var (
	errClosed      = errors.New("tasklist: watcher closed")
	errReconnected = errors.New("tasklist: connection reconnected")
	errBehind      = errors.New("tasklist: watcher is behind the stream")
	errRewatch     = errors.New("tasklist: watcher recreated on request")
)

// run keeps one watcher going until ctx ends and closes ready once the cache
// holds every entry the first time. The first watcher delivers every key's
// latest value; a replacement (after a reconnect, or when the check finds
// the cache behind) resumes after the last revision the cache applied, with
// history, so it delivers exactly the changes the cache missed, in order.
func (l *List) run(ctx context.Context, ready chan struct{}) {
	defer close(l.done)
	defer l.stopping.Wait()
	delay := 200 * time.Millisecond
	for {
		started := time.Now()
		err := l.watchOnce(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		if l.cfg.JS.Conn().IsClosed() {
			// Closed for good (the node shutting down before Close):
			// nothing to recreate, no warnings to repeat.
			l.log.Info("connection closed; the cache stays as it is until Close")
			<-ctx.Done()
			return
		}
		if errors.Is(err, errRewatch) {
			l.log.Info("recreating the watcher", "why", "a server of the cluster went away", "revision", l.revision())
			continue
		}
		l.log.Warn("recreating the watcher", "err", err, "revision", l.revision())
		// Back off while the server keeps failing us (a closed
		// connection, JetStream still recovering), not after a watcher
		// that ran for a while.
		if time.Since(started) > 30*time.Second {
			delay = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (l *List) revision() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

func (l *List) watchOnce(ctx context.Context, ready chan struct{}) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nc := l.cfg.JS.Conn()
	reconnects := nc.Stats().Reconnects
	from := l.revision()
	// last is the stream's last sequence before the watcher starts: once
	// its initial values are in, the cache reflects at least that much,
	// even when the newest messages were removed (a delete marker purged).
	last, err := l.lastSeq(wctx)
	if err != nil {
		return err
	}
	if last < from {
		// The bucket was deleted and made again (by hand: nothing
		// here deletes it), and its revisions start over. Load it all
		// afresh; the old revisions mean nothing any more.
		l.log.Warn("the task list's revisions went back; reloading it", "revision", from, "stream_last", last)
		l.forgetRevisions()
		from = 0
	}
	var w jetstream.KeyWatcher
	if from == 0 {
		w, err = l.kv.WatchAll(wctx)
	} else {
		w, err = l.kv.WatchAll(wctx, jetstream.IncludeHistory(), jetstream.ResumeFromRevision(from+1))
	}
	if err != nil {
		return fmt.Errorf("tasklist: watch: %w", err)
	}
	// Stopped in the background: stopping deletes the watcher's consumer
	// with a request that waits 5 s for an answer, and none comes when
	// the consumer's server is the one that died; the replacement must
	// not wait for it (it did: a node adopted a task failed over to it 5 s
	// later, TestClusterFailoverSIGKILL).
	l.stopping.Add(1)
	defer func() {
		go func() {
			defer l.stopping.Done()
			stop(w)
		}()
	}()
	// seen collects the keys of a full load, to drop cached entries the
	// bucket no longer has (only possible if delete markers were purged).
	var seen map[string]struct{}
	if from == 0 {
		seen = map[string]struct{}{}
	}
	initial := true
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nextCheck := time.Now().Add(l.cfg.CheckInterval)
	var behindAt uint64 // the stream's last sequence at the previous check
	lastRecv := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return errClosed
			}
			lastRecv = time.Now()
			if e == nil {
				if initial {
					initial = false
					if seen != nil {
						l.sweep(seen)
						seen = nil
					}
					l.mu.Lock()
					l.reloading = false
					l.mu.Unlock()
					l.advance(last)
					select {
					case <-ready:
					default:
						close(ready)
					}
				}
				continue
			}
			if seen != nil {
				seen[e.Key()] = struct{}{}
			}
			l.apply(e, !initial)
		case <-l.rewatch:
			if !initial {
				return errRewatch
			}
		case <-tick.C:
			// The connection's reconnect handler belongs to natsnode;
			// polling its counter costs a mutex.
			if nc.Stats().Reconnects != reconnects {
				return errReconnected
			}
			if initial && time.Since(lastRecv) > 2*l.cfg.CheckInterval {
				// The initial values stopped coming (the consumer
				// lost mid-load without a reconnect).
				return fmt.Errorf("%w: no initial value for %v", errBehind, time.Since(lastRecv).Round(time.Second))
			}
			if initial || time.Now().Before(nextCheck) {
				continue
			}
			nextCheck = time.Now().Add(l.cfg.CheckInterval)
			if l.revision() < behindAt {
				return fmt.Errorf("%w: at revision %d, the stream had %d a check ago", errBehind, l.revision(), behindAt)
			}
			cctx, ccancel := context.WithTimeout(wctx, 5*time.Second)
			s, err := l.lastSeq(cctx)
			ccancel()
			if err != nil {
				l.log.Debug("cannot check the watcher's progress", "err", err)
				behindAt = 0
				continue
			}
			if s < l.revision() {
				return fmt.Errorf("%w: at revision %d, the stream's last is %d", errBehind, l.revision(), s)
			}
			behindAt = s
		}
	}
}

// stop stops a watcher and drains it until the client closes its channel:
// the client's delivery goroutine may be blocked handing us an entry, and
// would otherwise stay blocked for ever.
func stop(w jetstream.KeyWatcher) {
	_ = w.Stop()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// lastSeq asks the bucket's stream for its last sequence.
func (l *List) lastSeq(ctx context.Context) (uint64, error) {
	st, err := l.kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("tasklist: bucket status: %w", err)
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok {
		return 0, fmt.Errorf("tasklist: bucket status of type %T", st)
	}
	return bs.StreamInfo().State.LastSeq, nil
}

// apply puts one watched change into the cache and tells OnChange. A
// revision the cache has already applied for the key is skipped, so a
// replacement watcher that overlaps the old one delivers nothing twice.
// live says the change is past the watcher's initial values, so its
// revision is now the cache's (see Wait).
func (l *List) apply(kve jetstream.KeyValueEntry, live bool) {
	id := kve.Key()
	var cur *Entry
	if kve.Operation() == jetstream.KeyValuePut {
		var err error
		if cur, err = decode(kve); err != nil {
			// Keep what the cache had: a node must not drop a task
			// because of an entry it cannot read.
			l.log.Warn("ignoring a malformed entry", "task", id, "err", err)
			if live {
				l.advance(kve.Revision())
			}
			return
		}
	}
	l.mu.Lock()
	old := l.cache[id]
	stale := !l.reloading && old != nil && old.Revision >= kve.Revision()
	if !stale {
		if cur != nil {
			l.putLocked(cur)
		} else if old != nil {
			l.deleteLocked(old)
		}
	}
	l.mu.Unlock()
	if !stale && (old != nil || cur != nil) && l.cfg.OnChange != nil {
		l.cfg.OnChange(old, cur)
	}
	// After OnChange: Wait's callers may count on it having run.
	if live {
		l.advance(kve.Revision())
	}
}

// sweep drops the cached entries a full load did not deliver.
func (l *List) sweep(seen map[string]struct{}) {
	l.mu.Lock()
	var gone []*Entry
	for id, e := range l.cache {
		if _, ok := seen[id]; !ok {
			gone = append(gone, e)
			l.deleteLocked(e)
		}
	}
	l.mu.Unlock()
	for _, e := range gone {
		if l.cfg.OnChange != nil {
			l.cfg.OnChange(e, nil)
		}
	}
}

// forgetRevisions is for a bucket whose revisions started over: the
// cache's revision goes back to zero and, until the full load that follows
// is in, apply replaces entries whatever their revisions.
func (l *List) forgetRevisions() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rev = 0
	l.reloading = true
}

func (l *List) putLocked(e *Entry) {
	if old := l.cache[e.TaskID]; old != nil && old.Node != e.Node {
		l.unindexLocked(old)
	}
	l.cache[e.TaskID] = e
	ids := l.perNode[e.Node]
	if ids == nil {
		ids = map[string]struct{}{}
		l.perNode[e.Node] = ids
	}
	ids[e.TaskID] = struct{}{}
}

func (l *List) deleteLocked(e *Entry) {
	delete(l.cache, e.TaskID)
	l.unindexLocked(e)
}

func (l *List) unindexLocked(e *Entry) {
	ids := l.perNode[e.Node]
	delete(ids, e.TaskID)
	if len(ids) == 0 {
		delete(l.perNode, e.Node)
	}
}

func (l *List) advance(rev uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.advanceLocked(rev)
}

func (l *List) advanceLocked(rev uint64) {
	if rev <= l.rev {
		return
	}
	l.rev = rev
	close(l.revC)
	l.revC = make(chan struct{})
}

// base64URL encodes an object name as the object store does in its
// subjects.
func base64URL(name string) string {
	return base64.URLEncoding.EncodeToString([]byte(name))
}
