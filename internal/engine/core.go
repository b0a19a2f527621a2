package engine

import (
	"context"
	"fmt"
	"io"
	"net"
)

// Cores: the BitTorrent implementations an Engine can run on.
const (
	// CoreNative is Lodestone's own core, internal/engine/native: the
	// default.
	CoreNative = "native"
	// CoreAnacrolix is github.com/anacrolix/torrent's client.
	CoreAnacrolix = "anacrolix"
)

// Engine is a BitTorrent client: it adds torrents and reports on them.
// Create it with New; Close it.
type Engine interface {
	// Add adds the torrent of spec, or returns the one already added.
	// Data download starts only when Start (or SetPriorities) is called.
	Add(spec Spec) (Torrent, error)
	// Alerts delivers alerts about the engine and its torrents. The
	// channel is bounded; alerts that find it full are counted and
	// dropped, never block the engine.
	Alerts() <-chan Alert
	// SetRateLimits caps the engine's total download and upload, in
	// bytes per second; 0 means unlimited.
	SetRateLimits(down, up int64)
	// PeerAddrs returns the addresses the engine accepts peers on.
	PeerAddrs() []net.Addr
	// SetNetwork puts n in force, as far as the core can while it runs
	// (network.go), and returns the names (Setting*) of what is not in
	// force until a restart: never nil. n must have been validated (as
	// Config's fields are); connections that break the new policy are
	// closed.
	SetNetwork(n Network) (pending []string)
	// Totals reads the engine's totals, for a scrape, not a loop.
	Totals() Totals
	// Status reads the engine's network state (DHT, port forwarding),
	// for a diagnosis, not a loop.
	Status() Status
	// Close stops the engine, recording piece completion first. Later
	// calls return the first call's result.
	Close() error
}

// Torrent is an added torrent. Its methods are safe for concurrent use.
type Torrent interface {
	// ID returns the lowercase hex info-hash.
	ID() string
	// GotInfo is closed when the torrent's metadata is known.
	GotInfo() <-chan struct{}
	// HasInfo reports whether the metadata is known.
	HasInfo() bool
	// Closed is closed once the torrent is dropped.
	Closed() <-chan struct{}

	// Start allows data download of every file at normal priority.
	Start()
	// SetPriorities applies a priority per file index (as in FileStats;
	// missing indices are normal) and allows download.
	SetPriorities(prios map[int]Priority)
	// Stop disallows data download; the torrent still uploads.
	Stop()
	// Pause stops both download and upload.
	Pause()
	// Resume allows upload again; download is allowed again by Start or
	// SetPriorities.
	Resume()
	// StopUpload disallows upload (download is left as is).
	StopUpload()
	// Drop removes the torrent from the engine, leaving its files.
	Drop()
	// SetRateLimits caps the torrent's download and upload, in bytes per
	// second; 0 means unlimited.
	SetRateLimits(down, up int64)
	// Verify hashes every piece again, blocking until done or ctx ends.
	// Pieces that fail are downloaded again.
	Verify(ctx context.Context) error
	// PrioritizeSequential makes data arrive roughly in order; call it
	// periodically while downloading. ClearSequential undoes it.
	PrioritizeSequential()
	ClearSequential()

	// AddPeers tells the engine about peers to dial, as host:port.
	AddPeers(addrs []string)
	// DialKnownPeers prompts the engine to dial the peers it knows.
	DialKnownPeers()
	// Reannounce announces to every tracker of the torrent now, and
	// looks it up on the DHT again when the DHT is on, without waiting
	// for their intervals. It returns at once; Trackers shows the
	// outcome.
	Reannounce()
	// Merge adds the trackers and peer addresses (x.pe) of a magnet spec
	// to the torrent, for a duplicate add.
	Merge(spec Spec) error
	// Trackers returns the torrent's trackers in announce-list order,
	// with what is known of each.
	Trackers() []TrackerStatus
	// SetTrackers replaces the torrent's trackers, one tier each. URLs
	// must have been checked with CheckTrackerURL.
	SetTrackers(urls []string)
	// Peers returns the connected peers.
	Peers() []PeerStat

	// WriteError returns the storage error that stops the torrent, or
	// nil. ClearWriteError forgets it (Start then tries again).
	WriteError() error
	ClearWriteError()

	// Stats reads the torrent's progress.
	Stats() Stats
	// Files returns the paths, relative to the download dir, of the
	// files (empty until the metadata is known), pad files left out.
	Files() []string
	// FileStats returns the torrent's files, pad files left out, nil
	// until the metadata is known.
	FileStats() []FileStat
	// FileIndex finds a file by its slash-separated path as in
	// FileStats.
	FileIndex(path string) (index int, size int64, ok bool)
	// PieceBitfield returns the number of pieces and a bitfield of the
	// verified ones (bit 7 of byte 0 is piece 0); 0 and nil until the
	// metadata is known.
	PieceBitfield() (int, []byte)
	// MetaInfo returns the bencoded .torrent built from the known info
	// dictionary and trackers. Call it after GotInfo.
	MetaInfo() ([]byte, error)
	// OpenFile opens a reader on the file at index (the order of
	// FileStats), for reads bound to ctx.
	OpenFile(ctx context.Context, index int) (FileReader, error)
}

// FileReader reads one file of a torrent while it downloads. Reads block
// until the bytes they need are verified and raise the priority of the
// pieces under and just ahead of the position (StreamReadahead). Reads
// end with the context given to OpenFile (wrapped), with ErrTorrentClosed
// once the torrent is dropped, or with a storage error. While download is
// not allowed, a read of missing bytes waits until it is again.
//
// Read and Seek are for one goroutine at a time; Close may be called from
// another goroutine while a Read waits: it ends the Read
// (ErrReaderClosed).
type FileReader interface {
	io.ReadSeekCloser
	// Size is the file's length.
	Size() int64
	// Index is the file's index, as in FileStats.
	Index() int
	// SetOnWait sets a function called each time a Read is about to wait
	// for data.
	SetOnWait(f func())
}

// CompletionFileOf is the name of core's piece-completion database in
// Config.StateDir.
func CompletionFileOf(core string) string {
	if core == CoreAnacrolix {
		return CompletionFile
	}
	return NativeCompletionFile
}

// New starts an engine on cfg.Core (CoreNative when empty) listening on
// cfg.PeerAddr.
func New(cfg Config) (Engine, error) {
	if cfg.UTP && !utpAvailable && cfg.Logger != nil {
		// Said once at start, so an operator who asked for uTP learns why
		// no peer ever connects over it.
		cfg.Logger.Warn("uTP is not compiled in (a CGO_ENABLED=0 build): peers connect over TCP only")
	}
	switch cfg.Core {
	case "", CoreNative:
		e, err := newNative(cfg)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return e, nil
	case CoreAnacrolix:
		e, err := newAnacrolix(cfg)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, fmt.Errorf("engine core %q: want %q or %q", cfg.Core, CoreAnacrolix, CoreNative)
}

var (
	_ Engine     = (*anacrolixEngine)(nil)
	_ Torrent    = (*anacrolixTorrent)(nil)
	_ FileReader = (*anacrolixReader)(nil)
)
