package store

// Group commit.
//
// Every write is a committed, fsynced bbolt transaction before the call
// returns; an fsync costs about a millisecond. Writes that arrive while a
// transaction is being committed wait, and the next transaction commits all
// of them together: one fsync for the lot. A lone writer pays nothing
// extra (no timer, unlike bbolt's DB.Batch, which waits up to
// MaxBatchDelay for company and re-runs every function of a failed batch).
//
// The caller whose write comes first in the queue becomes the leader: it
// takes the queue, runs every write in one transaction, commits it, tells
// the others their result, and hands the leadership to the first write
// queued meanwhile. No goroutine runs when nothing is written.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// maxGroup bounds the writes committed in one transaction, so a burst
// makes several moderate transactions rather than one huge one.
const maxGroup = 1024

// write is one caller's write, waiting in the queue or being committed.
type write struct {
	fn func(*bbolt.Tx) error
	// wake receives once: to become the leader (done still false), or
	// when the write was committed or failed (done true, err set). The
	// leader sets done and err before sending, so the receiver may read
	// them after receiving.
	wake chan struct{}
	done bool
	err  error
}

// errAbort marks an error after which a write may have changed part of
// what it meant to, so the transaction must not be committed.
type errAbort struct{ err error }

func (e errAbort) Error() string { return e.err.Error() }
func (e errAbort) Unwrap() error { return e.err }

// committer queues writes and commits them in groups. Its zero value is
// ready.
type committer struct {
	// mu guards the fields below it.
	mu      sync.Mutex
	queue   []*write // waiting, in arrival order
	leading bool     // a leader is committing (or was handed the lead)

	observe atomic.Pointer[func(time.Duration)] // see Store.ObserveWrites
}

// update runs fn in a writable transaction of db and returns once that
// transaction is committed (fsynced) or failed, like db.Update, possibly
// sharing the transaction with concurrent calls. fn runs once, or twice
// when another write of its group aborts (see below).
//
// An error returned by fn fails only this call, and fn must then have
// changed nothing (check before writing; bbolt's Put and Delete check
// their arguments before changing anything) — unless it is wrapped in
// errAbort, or fn panics: then the whole transaction is rolled back, fn's
// call fails, and every other write of the group is run again in a
// transaction of its own. A panic is raised again in fn's caller.
func (c *committer) update(db *bbolt.DB, fn func(*bbolt.Tx) error) error {
	if obs := c.observe.Load(); obs != nil {
		start := time.Now()
		defer func() { (*obs)(time.Since(start)) }()
	}
	w := &write{fn: fn, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	if c.leading {
		c.mu.Unlock()
		<-w.wake
		if w.done {
			return w.result()
		}
		// Handed the lead; w is still first in the queue.
		c.mu.Lock()
	}
	c.leading = true
	n := min(len(c.queue), maxGroup)
	group := c.queue[:n:n]
	c.queue = c.queue[n:]
	c.mu.Unlock()

	commitGroup(db, group)

	c.mu.Lock()
	if len(c.queue) > 0 {
		// The first queued write leads the next group.
		c.queue[0].wake <- struct{}{}
	} else {
		c.leading = false
		c.queue = nil
	}
	c.mu.Unlock()
	for _, o := range group {
		if o != w {
			o.wake <- struct{}{}
		}
	}
	return w.result()
}

// panicked carries a panic out of a write, to be raised again in its
// caller.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprint("panic: ", p.v) }

func (w *write) result() error {
	var p panicked
	if errors.As(w.err, &p) {
		panic(p.v)
	}
	return w.err
}

// commitGroup runs the writes of group in one transaction and sets their
// results. When one of them aborts, it fails alone and the others run
// again, each in a transaction of its own.
func commitGroup(db *bbolt.DB, group []*write) {
	var bad *write
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, w := range group {
			err := run(w.fn, tx)
			var a errAbort
			var p panicked
			if errors.As(err, &a) || errors.As(err, &p) {
				bad = w
				return err
			}
			w.err = err
		}
		return nil
	})
	if bad == nil {
		// Committed, or the commit failed for all of them.
		for _, w := range group {
			if err != nil {
				w.err = err
			}
			w.done = true
		}
		return
	}
	for _, w := range group {
		if w == bad {
			w.err = err
		} else {
			w.err = db.Update(func(tx *bbolt.Tx) error { return run(w.fn, tx) })
		}
		w.done = true
	}
}

// run calls fn, turning a panic into a panicked error.
func run(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(tx)
}

// ObserveWrites has fn called with how long each durable write took, from
// the call to its commit (fsync), waiting for its group included. fn runs
// on the writer's goroutine and must be quick and safe for concurrent use.
func (s *Store) ObserveWrites(fn func(time.Duration)) {
	s.c.observe.Store(&fn)
}
