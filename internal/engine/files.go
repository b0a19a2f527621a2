package engine

import (
	"github.com/anacrolix/torrent"
)

// Priority is a file's download priority.
type Priority string

// File priorities, as on the wire.
const (
	PrioritySkip   Priority = "skip"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
)

// ValidPriority reports whether p is a known priority.
func ValidPriority(p Priority) bool {
	return p == PrioritySkip || p == PriorityNormal || p == PriorityHigh
}

func (p Priority) engine() torrent.PiecePriority {
	switch p {
	case PrioritySkip:
		return torrent.PiecePriorityNone
	case PriorityHigh:
		return torrent.PiecePriorityHigh
	}
	return torrent.PiecePriorityNormal
}

// FileStat is one file of a torrent.
type FileStat struct {
	// Path is relative to the download dir, slash-separated, the
	// torrent's name first: where the file is on disk (see SafePaths).
	Path string
	Size int64
	// Completed counts bytes of the file in verified pieces.
	Completed int64
}

// FileStats returns the torrent's files, pad files left out, nil until
// the metadata is known.
func (t *anacrolixTorrent) FileStats() []FileStat {
	info := t.t.Info()
	if info == nil {
		return nil
	}
	done, _ := verifiedSpans(t.t.PieceStateRuns(), info.PieceLength)
	return t.layout(info).fileStats(done)
}

// SetPriorities applies a priority per file index (as in FileStats;
// missing indices are normal) and allows download. Use it instead of
// Start when files are selected: the engine's DownloadAll would override
// skips. Pad files are never wanted for themselves.
func (t *anacrolixTorrent) SetPriorities(prios map[int]Priority) {
	if info := t.t.Info(); info != nil {
		files := t.t.Files()
		want := make([]Priority, len(files))
		for i := range want {
			want[i] = PrioritySkip
		}
		for i, e := range t.layout(info).engine {
			p, ok := prios[i]
			if !ok {
				p = PriorityNormal
			}
			want[e] = p
		}
		for i, f := range files {
			f.SetPriority(want[i].engine())
		}
	}
	t.allowDownload()
	t.kick()
}

// kick prompts the engine to dial the peers it knows. It dials only when
// something prompts it, and allowing download or losing a piece to a
// recheck does not: peers learned while download was off (an announce
// answered during the initial check) would wait for the next announce.
// Setting the connection limit (to the value it has) opens new
// connections under the engine's lock. (KnownSwarm plus AddPeers would
// too, but KnownSwarm reads the peer pool without the lock: a data race.)
func (t *anacrolixTorrent) kick() {
	t.t.SetMaxEstablishedConns(EstablishedConnsPerTorrent)
}

// DialKnownPeers prompts the engine to dial the peers it knows (see kick):
// for a torrent that lost a piece to a failed hash, or that has no peer.
func (t *anacrolixTorrent) DialKnownPeers() { t.kick() }

// SequentialWindow is how many pieces ahead of the first missing one a
// sequential torrent raises to high priority.
const SequentialWindow = 16

// PrioritizeSequential raises the first SequentialWindow missing pieces
// (of wanted files) to high priority, so that data arrives roughly in
// order. Call it periodically while downloading; on returns from
// sequential mode call SetPriorities to reset.
func (t *anacrolixTorrent) PrioritizeSequential() {
	if t.t.Info() == nil {
		return
	}
	index, raised := 0, 0
	for _, run := range t.t.PieceStateRuns() {
		if raised >= SequentialWindow {
			return
		}
		if run.Complete || run.Priority == torrent.PiecePriorityNone {
			index += run.Length
			continue
		}
		for i := index; i < index+run.Length && raised < SequentialWindow; i++ {
			if run.Priority < torrent.PiecePriorityHigh {
				t.t.Piece(i).SetPriority(torrent.PiecePriorityHigh)
			}
			raised++
		}
		index += run.Length
	}
}

// ClearSequential undoes PrioritizeSequential: pieces go back to the
// priority of their files.
func (t *anacrolixTorrent) ClearSequential() {
	if t.t.Info() == nil {
		return
	}
	for i := range t.t.NumPieces() {
		t.t.Piece(i).SetPriority(torrent.PiecePriorityNone)
	}
}

// PieceBitfield returns the number of pieces and a bitfield of the
// verified ones (bit 7 of byte 0 is piece 0); 0 and nil until the
// metadata is known.
func (t *anacrolixTorrent) PieceBitfield() (int, []byte) {
	if t.t.Info() == nil {
		return 0, nil
	}
	n := t.t.NumPieces()
	have := make([]byte, (n+7)/8)
	index := 0
	for _, run := range t.t.PieceStateRuns() {
		if run.Complete && run.Ok {
			for i := index; i < index+run.Length && i < n; i++ {
				have[i/8] |= 0x80 >> (i % 8)
			}
		}
		index += run.Length
	}
	return n, have
}
