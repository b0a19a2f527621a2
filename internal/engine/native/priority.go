package native

import (
	"fmt"
	"maps"
	"slices"

	pp "github.com/anacrolix/torrent/peer_protocol"
)

// File priorities. A piece takes the highest priority of the files it
// holds data of; pieces of skipped files alone are never fetched.
const (
	PrioritySkip   uint8 = 0
	PriorityNormal uint8 = 1
	PriorityHigh   uint8 = 2
)

// SetFilePriorities sets each file's priority (one per Meta.Files entry;
// pad files' entries are ignored) and updates which peers we are
// interested in. Pieces already fetched stay.
func (t *Torrent) SetFilePriorities(prios []uint8) error {
	if len(prios) != len(t.meta.Files) {
		return fmt.Errorf("native: %d priorities for %d files", len(prios), len(t.meta.Files))
	}
	for _, p := range prios {
		if p > PriorityHigh {
			return fmt.Errorf("native: priority %d out of range", p)
		}
	}
	piece := make([]uint8, len(t.meta.Hashes))
	var off int64
	for i, f := range t.meta.Files {
		if !f.Pad && f.Length > 0 {
			first, last := off/t.meta.PieceLength, (off+f.Length-1)/t.meta.PieceLength
			for j := first; j <= last; j++ {
				piece[j] = max(piece[j], prios[i])
			}
		}
		off += f.Length
	}
	t.mu.Lock()
	copy(t.prio, piece)
	t.wanted, t.wantLeft = 0, 0
	for i, pr := range t.prio {
		if pr != PrioritySkip {
			t.wanted++
			if !t.have.get(i) {
				t.wantLeft++
			}
		}
	}
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	for _, p := range peers {
		p.updateInterest()
	}
	return nil
}

// wantsFrom reports whether has holds a piece we want and lack. Called
// with t.mu held.
func (t *Torrent) wantsFromLocked(has bitset) bool {
	for i, pr := range t.prio {
		if pr != PrioritySkip && has.get(i) && !t.have.get(i) && !t.writing.get(i) {
			return true
		}
	}
	return false
}

// updateInterest tells the peer whether we are interested, after our
// wants changed, and asks for blocks if we are.
func (p *peer) updateInterest() {
	p.mu.Lock()
	p.t.mu.Lock()
	want := p.t.wantsFromLocked(p.has)
	p.t.mu.Unlock()
	if want != p.interested {
		p.interested = want
		if want {
			p.send(pp.Interested, nil)
		} else {
			p.send(pp.NotInterested, nil)
		}
	}
	p.mu.Unlock()
	if want {
		p.fill()
	}
}
