package native

import (
	"fmt"
	"maps"
	"slices"
)

// Pause stops all traffic of the torrent: its connections are closed,
// none is made or accepted, its trackers are told "stopped", and its DHT
// lookup in flight ends (announcing nothing). Pieces already verified
// stay; pieces in flight keep their blocks for later.
func (t *Torrent) Pause() {
	t.mu.Lock()
	if t.paused {
		t.mu.Unlock()
		return
	}
	t.paused = true
	if t.dhtCancel != nil {
		t.dhtCancel()
	}
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	t.kickAnnounce()
}

// Resume undoes Pause: the trackers are told "started" again, the DHT
// asked again, and every address the torrent knew is dialed again.
func (t *Torrent) Resume() {
	t.mu.Lock()
	if !t.paused {
		t.mu.Unlock()
		return
	}
	t.paused = false
	t.known = t.known[:0]
	for a := range t.seen {
		t.known = append(t.known, a)
	}
	t.mu.Unlock()
	t.kickAnnounce()
	t.kickDHT()
	t.spawn(t.dialMore)
}

// Paused reports whether the torrent is paused.
func (t *Torrent) Paused() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused
}

func (t *Torrent) kickAnnounce() {
	select {
	case t.pauseC <- struct{}{}:
	default:
	}
}

// MarkVerified records pieces as verified and on disk without hashing
// them: for a caller that kept that fact durably (a completion store).
// Call it before adding peers.
func (t *Torrent) MarkVerified(pieces []int) error {
	for _, i := range pieces {
		if i < 0 || i >= len(t.meta.Hashes) {
			return fmt.Errorf("native: piece %d of %d", i, len(t.meta.Hashes))
		}
	}
	for _, i := range pieces {
		t.written(i)
	}
	return nil
}

// Sync flushes the torrent's files to stable storage: pieces reported
// written are durable once it returns (the checkpoint rule is the
// caller's: report a piece verified only after a Sync that followed its
// write).
func (t *Torrent) Sync() error { return t.store.sync() }

// Have reports which pieces are verified and on disk.
func (t *Torrent) Have() []bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]bool, len(t.meta.Hashes))
	for i := range out {
		out[i] = t.have.get(i)
	}
	return out
}
