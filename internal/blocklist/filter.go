package blocklist

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Filter is the live blocklist the engine consults: a List swapped
// atomically (a lookup never waits for a load), and the count of
// connections and addresses refused. A nil *Filter blocks nothing. Safe
// for concurrent use.
type Filter struct {
	list    atomic.Pointer[List]
	refused atomic.Int64

	mu   sync.Mutex // guards subs
	subs map[int]func()
	next int
}

// NewFilter returns a Filter blocking nothing yet.
func NewFilter() *Filter { return &Filter{subs: make(map[int]func())} }

// Blocked reports whether a is blocked, without counting it.
func (f *Filter) Blocked(a netip.Addr) bool {
	if f == nil {
		return false
	}
	return f.list.Load().Contains(a)
}

// Refuse reports whether a is blocked and, if so, counts one refusal:
// the engine calls it where it drops an address or a connection.
func (f *Filter) Refuse(a netip.Addr) bool {
	if !f.Blocked(a) {
		return false
	}
	f.refused.Add(1)
	return true
}

// Refused is how many times Refuse refused an address.
func (f *Filter) Refused() int64 {
	if f == nil {
		return 0
	}
	return f.refused.Load()
}

// List is the list in force (nil: none).
func (f *Filter) List() *List {
	if f == nil {
		return nil
	}
	return f.list.Load()
}

// Set puts l in force, then calls every OnChange function (in the
// caller's goroutine), so that the engines drop connections to peers
// the new list blocks.
func (f *Filter) Set(l *List) {
	f.list.Store(l)
	f.mu.Lock()
	subs := make([]func(), 0, len(f.subs))
	for _, fn := range f.subs {
		subs = append(subs, fn)
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// OnChange registers fn to run after each Set; the returned function
// unregisters it. fn must not block for long.
func (f *Filter) OnChange(fn func()) (cancel func()) {
	if f == nil {
		return func() {}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}
