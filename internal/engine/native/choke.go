package native

import (
	"maps"
	"math/rand/v2"
	"slices"
	"time"
)

const (
	rechokeEvery    = 10 * time.Second
	optimisticEvery = 3 // rechokes between optimistic unchokes
)

// chokeLoop rechokes the torrent's peers every 10 s, and every minute
// exchanges peers with them (BEP 11). Without peers it sleeps until one
// joins: a daemon with 10,000 idle torrents would otherwise wake 1,000
// times a second for nothing. Runs in t.wg.
func (t *Torrent) chokeLoop() {
	defer t.wg.Done()
	tick := time.NewTicker(rechokeEvery)
	defer tick.Stop()
	for n := 0; ; n++ {
		t.mu.Lock()
		idle := len(t.peers) == 0
		t.mu.Unlock()
		if idle {
			tick.Stop()
			select {
			case <-t.ctx.Done():
				return
			case <-t.joined:
			}
			tick.Reset(rechokeEvery)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
			t.rechoke(n%optimisticEvery == 0)
			if n%pexEvery == pexEvery-1 && !t.meta.Private {
				t.mu.Lock()
				peers := slices.Collect(maps.Keys(t.peers))
				t.mu.Unlock()
				for _, p := range peers {
					t.sendPex(p)
				}
			}
		}
	}
}

// rechoke gives the upload slots to the interested peers that count most:
// while downloading, those we download from fastest (tit for tat); while
// seeding, those we upload to fastest. One slot rotates among the others
// (the optimistic unchoke), so that newcomers get a chance.
func (t *Torrent) rechoke(rotate bool) {
	t.chokeMu.Lock()
	defer t.chokeMu.Unlock()
	t.mu.Lock()
	seeding := t.nhave == len(t.meta.Hashes)
	all := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	var want []*peer
	for _, p := range all {
		down, up := p.downloaded.Load(), p.uploaded.Load()
		p.rate = down - p.lastDown
		if seeding {
			p.rate = up - p.lastUp
		}
		p.lastDown, p.lastUp = down, up
		if p.peerInterested.Load() {
			want = append(want, p)
		}
	}
	slices.SortFunc(want, func(a, b *peer) int { return int(b.rate - a.rate) })
	slots := t.c.cfg.UploadSlots
	unchoke := map[*peer]bool{}
	for _, p := range want[:min(len(want), slots-1)] {
		unchoke[p] = true
	}
	if rest := want[min(len(want), slots-1):]; len(rest) > 0 {
		if rotate || t.optimistic == nil || !slices.Contains(rest, t.optimistic) {
			t.optimistic = rest[rand.IntN(len(rest))]
		}
		unchoke[t.optimistic] = true
	}
	for _, p := range all {
		p.setChoking(!unchoke[p])
	}
}

// interestChanged unchokes a newly interested peer at once if a slot is
// free, rather than at the next rechoke.
func (t *Torrent) interestChanged(p *peer) {
	if !p.peerInterested.Load() {
		p.setChoking(true)
		return
	}
	t.chokeMu.Lock()
	defer t.chokeMu.Unlock()
	t.mu.Lock()
	used := 0
	for q := range t.peers {
		q.omu.Lock()
		if !q.choking {
			used++
		}
		q.omu.Unlock()
	}
	t.mu.Unlock()
	if used < t.c.cfg.UploadSlots {
		p.setChoking(false)
	}
}
