package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/native"
)

// metadataRetry is how long a magnet waits between two attempts to fetch
// its metadata when no new peer came meanwhile.
const metadataRetry = 5 * time.Second

// maxGivenPeers bounds the peer addresses a torrent keeps from AddPeers
// and magnets.
const maxGivenPeers = 1000

// nativeTorrent is a torrent on the native core. Until its metadata is
// known (a magnet) it only fetches it; then a core torrent (native.Torrent)
// does the transfers. A recheck, or going on after a write error, replaces
// the core torrent with a new one told what the old one had: the core
// stops a torrent for good on a write error, and hashes only before
// peers come.
//
// What the daemon asks (download allowed, upload allowed, file
// priorities, limits, peers, trackers) is kept here and applied to each
// core torrent. Pausing, or stopping download and upload both, closes
// the core torrent's connections; stopping download alone skips every
// file; stopping upload alone while downloading is not possible on the
// core (it uploads to the peers it downloads from) and takes effect once
// download stops too.
type nativeTorrent struct {
	e       *nativeEngine
	id      string
	ih      [20]byte
	dir     string
	gotInfo chan struct{}
	closed  chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	hashed  atomic.Int64
	dirty   atomic.Bool   // pieces written since the last checkpoint
	kickC   chan struct{} // new peers for the metadata fetch
	loadMu  sync.Mutex    // one (re)load of the core torrent at a time
	drop    sync.Once
	wg      sync.WaitGroup // the goroutines below, which Drop waits for

	// sigMu guards progress, which is closed and replaced when a piece
	// is written or download becomes allowed: readers wait on it. It is
	// never held while calling the core.
	sigMu    sync.Mutex
	progress chan struct{}

	mu        sync.Mutex
	name      string
	trackers  []string
	peers     []netip.AddrPort
	meta      *native.Meta
	info      *metainfo.Info
	layout    *layout
	coreFile  []int // each data file's index among meta.Files
	core      *native.Torrent
	download  bool
	upload    bool
	prios     map[int]Priority
	down, up  int64
	werr      error
	checking  bool
	dropped   bool
	noSpawn   bool       // Drop began: spawn starts nothing
	base      coreCounts // earlier core torrents' counts
	peerRates map[netip.AddrPort]rateSample
	// trackerStats is what the last announce to each tracker found.
	trackerStats map[string]TrackerStatus
}

// coreCounts are the counters of a core torrent that outlive it.
type coreCounts struct{ read, written, hashFailures int64 }

// rateSample is a peer's byte counts when its rates were last computed.
type rateSample struct {
	at         time.Time
	down, up   int64
	dRate, uRt int64
}

func newNativeTorrent(e *nativeEngine, spec Spec, ts *torrent.TorrentSpec, dir string) (*nativeTorrent, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &nativeTorrent{
		e: e, id: spec.ID, ih: ts.InfoHash, dir: dir, gotInfo: make(chan struct{}), closed: make(chan struct{}),
		ctx: ctx, cancel: cancel, kickC: make(chan struct{}, 1), progress: make(chan struct{}),
		name: spec.Name, upload: true, peerRates: make(map[netip.AddrPort]rateSample),
		trackerStats: make(map[string]TrackerStatus),
	}
	for _, tier := range ts.Trackers {
		for _, u := range tier {
			if !slices.Contains(t.trackers, u) {
				t.trackers = append(t.trackers, u)
			}
		}
	}
	t.addPeersLocked(ts.PeerAddrs)
	if len(ts.InfoBytes) > 0 {
		if err := t.setInfo(ts.InfoBytes); err != nil {
			cancel()
			return nil, err
		}
		// What the completion store says is told at once (Stats right
		// after Add show it, as the engine's do); hashing files found
		// on disk runs in the background.
		have, verify := t.recorded(t.meta)
		if verify {
			t.spawn(func() { t.load(t.ctx, true, nil) })
		} else if err := t.load(t.ctx, false, have); err != nil {
			cancel()
			return nil, err
		}
		return t, nil
	}
	// The metadata fetch starts once the engine has registered t
	// (startFetch): its first announce may answer before that, and the
	// engine finds whose it is by its ID.
	return t, nil
}

// startFetch starts fetching the metadata of a torrent added without it.
func (t *nativeTorrent) startFetch() {
	t.mu.Lock()
	need := t.info == nil
	t.mu.Unlock()
	if need {
		t.spawn(t.fetchMetadata)
	}
}

// spawn runs fn in a goroutine that Drop waits for; none once Drop began.
func (t *nativeTorrent) spawn(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.noSpawn {
		t.wg.Go(fn)
	}
}

// setInfo records the metadata and lays out the files.
func (t *nativeTorrent) setInfo(infoBytes []byte) error {
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return fmt.Errorf("%w: info dictionary: %w", ErrBadTorrent, err)
	}
	if err := checkEngineCan(&info); err != nil {
		return err
	}
	meta, err := native.ParseInfo(infoBytes, t.dir, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	l := newLayout(&info)
	// The k-th data file of the layout is the core's k-th file that is
	// not padding (native.ParseInfo pairs them, for hybrids too).
	var coreFile []int
	for j, f := range meta.Files {
		if !f.Pad {
			coreFile = append(coreFile, j)
		}
	}
	if len(coreFile) != len(l.paths) {
		return fmt.Errorf("%w: %d data files, the core has %d", ErrBadTorrent, len(l.paths), len(coreFile))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meta, t.info, t.layout, t.coreFile = &meta, &info, l, coreFile
	t.name = info.BestName()
	close(t.gotInfo)
	return nil
}

// fetchMetadata asks peers for the info dictionary of a magnet until it
// comes or the torrent is dropped, then starts the core torrent.
func (t *nativeTorrent) fetchMetadata() {
	// Peers that connect to us are asked too: the running attempt takes
	// them; between attempts, one arriving starts the next at once.
	arrived := make(chan struct{}, 1)
	release := t.e.cl.WantMetadata(t.ih, func() {
		select {
		case arrived <- struct{}{}:
		default:
		}
	})
	defer release()
	for t.ctx.Err() == nil {
		t.mu.Lock()
		peers := slices.Clone(t.peers)
		// Each tracker only when due: the interval it asked for (at
		// least 30 s), 15 s after a failure.
		var trackers []string
		now := time.Now()
		for _, u := range t.trackers {
			if st, ok := t.trackerStats[u]; !ok || !now.Before(st.NextAnnounce) {
				trackers = append(trackers, u)
			}
		}
		t.mu.Unlock()
		ctx, cancel := context.WithCancel(t.ctx)
		var kicked atomic.Bool
		go func() { // new peers given start a new attempt, with them
			select {
			case <-t.kickC:
				kicked.Store(true)
				cancel()
			case <-ctx.Done():
			}
		}()
		infoBytes, err := t.e.cl.FetchMetadata(ctx, t.ih, peers, trackers)
		cancel()
		if err == nil {
			if err := t.setInfo(infoBytes); err != nil {
				t.e.log.Warn("metadata refused", "infohash", t.id, "err", err)
				t.setWriteError(err)
				return
			}
			t.load(t.ctx, false, nil)
			return
		}
		if kicked.Load() {
			continue
		}
		select {
		case <-t.ctx.Done():
			return
		case <-t.kickC:
		case <-arrived:
		case <-time.After(metadataRetry):
		}
	}
}

func (t *nativeTorrent) kick() {
	select {
	case t.kickC <- struct{}{}:
	default:
	}
}

// load makes a new core torrent (replacing the current one, if any) and
// tells it what it has: with verify, what hashing the files finds; else
// what the current one had, or known when not nil (the caller read the
// completion store), or what the completion store says (hashing the files
// when it says nothing and some exist).
func (t *nativeTorrent) load(ctx context.Context, verify bool, known []bool) error {
	t.loadMu.Lock()
	defer t.loadMu.Unlock()
	t.mu.Lock()
	if t.dropped {
		t.mu.Unlock()
		return ErrTorrentClosed
	}
	old, meta, l := t.core, t.meta, t.layout
	t.core = nil
	t.mu.Unlock()
	have := known
	if old != nil {
		have = old.Have()
		st := old.Stats()
		old.Close()
		t.mu.Lock()
		t.base.read += st.Downloaded - st.Wasted
		t.base.written += st.Uploaded
		t.base.hashFailures += st.HashFailures
		t.mu.Unlock()
	}
	if err := checkNoSymlinks(t.dir, l.paths); err != nil {
		t.setWriteError(err)
		return err
	}
	core, err := t.e.cl.AddPaused(*meta)
	if err != nil {
		err = fmt.Errorf("start torrent: %w", err)
		t.setWriteError(err)
		return err
	}
	if have == nil && !verify {
		have, verify = t.recorded(meta)
	}
	if verify {
		t.setChecking(true)
		_, err = core.Verify(ctx)
		t.hashed.Add(meta.Length)
		t.setChecking(false)
		if err != nil {
			core.Close()
			return err
		}
		if err := t.e.done.Put(t.id, bitfieldOf(core.Have())); err != nil {
			t.e.log.Error("record piece completion", "infohash", t.id, "err", err)
		}
	} else {
		var pieces []int
		for i, ok := range have {
			if ok {
				pieces = append(pieces, i)
			}
		}
		if err := core.MarkVerified(pieces); err != nil {
			core.Close()
			return err
		}
	}
	t.mu.Lock()
	if t.dropped {
		t.mu.Unlock()
		core.Close()
		return ErrTorrentClosed
	}
	t.core = core
	core.SetTrackers(t.trackers)
	t.applyLocked()
	peers := slices.Clone(t.peers)
	t.mu.Unlock()
	core.AddPeers(peers)
	t.signal()
	return nil
}

// recorded returns the pieces the completion store holds for the torrent,
// less those in files that are gone or short; or verify when it holds
// nothing (or cannot be read) and a file exists (data put there before
// the torrent was added: hash it). have is never nil without verify.
func (t *nativeTorrent) recorded(meta *native.Meta) (have []bool, verify bool) {
	have = make([]bool, len(meta.Hashes))
	bits, err := t.e.done.Get(t.id)
	if err != nil {
		t.e.log.Warn("piece completion unreadable; hashing the files", "infohash", t.id, "err", err)
	}
	if err != nil || bits == nil {
		for _, f := range meta.Files {
			if fi, err := os.Stat(f.Path); !f.Pad && err == nil && fi.Size() > 0 {
				return nil, true
			}
		}
		return have, false
	}
	for i := range have {
		have[i] = i/8 < len(bits) && bits[i/8]&(0x80>>(i%8)) != 0
	}
	var off int64
	lost := false
	for _, f := range meta.Files {
		if f.Pad || f.Length == 0 {
			off += f.Length
			continue
		}
		if fi, err := os.Stat(f.Path); err != nil || fi.Size() < f.Length {
			for i := off / meta.PieceLength; i <= (off+f.Length-1)/meta.PieceLength; i++ {
				lost = lost || have[i]
				have[i] = false
			}
		}
		off += f.Length
	}
	if lost {
		// Recorded before the core creates the files again (at their
		// full length, preallocated): a crash must not leave the old
		// record vouching for new, empty files.
		if err := t.e.done.Put(t.id, bitfieldOf(have)); err != nil {
			t.e.log.Error("record piece completion", "infohash", t.id, "err", err)
			return make([]bool, len(meta.Hashes)), false
		}
	}
	return have, false
}

func bitfieldOf(have []bool) []byte {
	bits := make([]byte, (len(have)+7)/8)
	for i, ok := range have {
		if ok {
			bits[i/8] |= 0x80 >> (i % 8)
		}
	}
	return bits
}

func (t *nativeTorrent) setChecking(on bool) {
	t.mu.Lock()
	t.checking = on
	t.mu.Unlock()
}

func (t *nativeTorrent) setWriteError(err error) {
	t.mu.Lock()
	t.werr = err
	t.mu.Unlock()
	t.signal()
}

// applyLocked hands the core torrent what the daemon asked. t.mu is held.
func (t *nativeTorrent) applyLocked() {
	c := t.core
	if c == nil {
		return
	}
	c.SetRateLimits(t.down, t.up)
	prios := make([]uint8, len(t.meta.Files))
	if t.download {
		for i, j := range t.coreFile {
			p, ok := t.prios[i]
			switch {
			case !ok || p == PriorityNormal:
				prios[j] = native.PriorityNormal
			case p == PriorityHigh:
				prios[j] = native.PriorityHigh
			}
		}
	}
	if err := c.SetFilePriorities(prios); err != nil {
		t.e.log.Error("set file priorities", "infohash", t.id, "err", err)
	}
	if t.download || t.upload {
		c.Resume()
	} else {
		c.Pause()
	}
}

// signal wakes the readers.
func (t *nativeTorrent) signal() {
	t.sigMu.Lock()
	close(t.progress)
	t.progress = make(chan struct{})
	t.sigMu.Unlock()
}

// progressSignal returns a channel closed at the next signal.
func (t *nativeTorrent) progressSignal() <-chan struct{} {
	t.sigMu.Lock()
	defer t.sigMu.Unlock()
	return t.progress
}

func (t *nativeTorrent) pieceWritten(int) {
	t.dirty.Store(true)
	if m := t.metaNow(); m != nil {
		t.hashed.Add(m.PieceLength)
	}
	t.signal()
}

func (t *nativeTorrent) metaNow() *native.Meta {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.meta
}

func (t *nativeTorrent) coreNow() *native.Torrent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.core
}

// checkpoint records the pieces written since the last one, after
// syncing their files: completion never claims data a power cut could
// lose.
// syncForRecord takes the verified pieces of a torrent that wrote pieces
// since its last record and syncs its files, so that the bitfield it
// returns may be recorded: never ahead of the data on disk. ok is false
// when there is nothing to record, or the sync failed (then it is tried
// again at the next checkpoint).
func (t *nativeTorrent) syncForRecord() (bits []byte, ok bool) {
	if !t.dirty.Load() {
		return nil, false // the common case, without a lock
	}
	c := t.coreNow()
	if c == nil || !t.dirty.Swap(false) {
		return nil, false // a drop under way records it
	}
	bits = bitfieldOf(c.Have())
	if err := c.Sync(); err != nil {
		t.e.log.Error("sync torrent files", "infohash", t.id, "err", err)
		t.dirty.Store(true)
		return nil, false
	}
	return bits, true
}

func (t *nativeTorrent) ID() string               { return t.id }
func (t *nativeTorrent) GotInfo() <-chan struct{} { return t.gotInfo }
func (t *nativeTorrent) Closed() <-chan struct{}  { return t.closed }

func (t *nativeTorrent) HasInfo() bool {
	select {
	case <-t.gotInfo:
		return true
	default:
		return false
	}
}

func (t *nativeTorrent) Start() { t.SetPriorities(nil) }

func (t *nativeTorrent) SetPriorities(prios map[int]Priority) {
	t.mu.Lock()
	t.download = true
	t.prios = maps.Clone(prios)
	t.applyLocked()
	t.mu.Unlock()
	t.signal()
}

func (t *nativeTorrent) Stop() {
	t.mu.Lock()
	t.download = false
	t.applyLocked()
	t.mu.Unlock()
}

func (t *nativeTorrent) Pause() {
	t.mu.Lock()
	t.download, t.upload = false, false
	t.applyLocked()
	t.mu.Unlock()
}

func (t *nativeTorrent) Resume() {
	t.mu.Lock()
	t.upload = true
	t.applyLocked()
	t.mu.Unlock()
}

func (t *nativeTorrent) StopUpload() {
	t.mu.Lock()
	t.upload = false
	t.applyLocked()
	t.mu.Unlock()
}

func (t *nativeTorrent) SetRateLimits(down, up int64) {
	t.mu.Lock()
	t.down, t.up = down, up
	if t.core != nil {
		t.core.SetRateLimits(down, up)
	}
	t.mu.Unlock()
}

// Drop stops the torrent: the pieces written so far are recorded first.
func (t *nativeTorrent) Drop() {
	t.drop.Do(func() {
		t.cancel()
		t.mu.Lock()
		t.noSpawn = true
		t.mu.Unlock()
		t.wg.Wait()     // a metadata fetch or a load in the background ends with ctx
		t.loadMu.Lock() // a load in progress ends (its hashing with ctx)
		t.mu.Lock()
		t.dropped = true
		c := t.core
		t.core = nil
		t.mu.Unlock()
		t.loadMu.Unlock()
		var read, written int64
		if c != nil {
			// Only what changed since the last checkpoint: the engine's
			// Close records every torrent in one transaction first.
			if t.dirty.Swap(false) {
				bits := bitfieldOf(c.Have()) // before the sync that makes them durable
				if c.Sync() == nil {
					if err := t.e.done.Put(t.id, bits); err != nil {
						t.e.log.Error("record piece completion", "infohash", t.id, "err", err)
					}
				}
			}
			st := c.Stats()
			read, written = st.Downloaded-st.Wasted, st.Uploaded
			c.Close()
		}
		t.mu.Lock()
		read += t.base.read
		written += t.base.written
		t.mu.Unlock()
		t.e.forget(t, read, written)
		close(t.closed)
		t.signal()
	})
}

// Verify hashes every piece again on a new core torrent.
func (t *nativeTorrent) Verify(ctx context.Context) error {
	if !t.HasInfo() {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(t.ctx, cancel) // and Drop
	defer stop()
	return t.load(ctx, true, nil)
}

func (t *nativeTorrent) PrioritizeSequential() {
	t.mu.Lock()
	c, l, meta, download := t.core, t.layout, t.meta, t.download
	prios := t.prios
	t.mu.Unlock()
	if c == nil || !download {
		return
	}
	raised := 0
	for i, e := range l.extents {
		if p, ok := prios[i]; ok && p == PrioritySkip || e.to == e.from {
			continue
		}
		for pc := e.from / meta.PieceLength; pc <= (e.to-1)/meta.PieceLength && raised < SequentialWindow; pc++ {
			if !c.Has(int(pc)) {
				c.RaisePieces(int(pc), int(pc))
				raised++
			}
		}
		if raised >= SequentialWindow {
			return
		}
	}
}

func (t *nativeTorrent) ClearSequential() {
	t.mu.Lock()
	t.applyLocked()
	t.mu.Unlock()
}

func (t *nativeTorrent) addPeersLocked(addrs []string) []netip.AddrPort {
	var added []netip.AddrPort
	for _, a := range addrs {
		ap, err := netip.ParseAddrPort(a)
		if err != nil || slices.Contains(t.peers, ap) || len(t.peers) >= maxGivenPeers {
			continue
		}
		t.peers = append(t.peers, ap)
		added = append(added, ap)
	}
	return added
}

func (t *nativeTorrent) AddPeers(addrs []string) {
	t.mu.Lock()
	added := t.addPeersLocked(addrs)
	c := t.core
	t.mu.Unlock()
	if len(added) == 0 {
		return
	}
	if c != nil {
		c.AddPeers(added)
	}
	t.kick()
}

// DialKnownPeers: the core dials the peers it knows by itself (and again
// after failures, backing off); nothing to prompt.
func (t *nativeTorrent) DialKnownPeers() {}

// Reannounce announces to every tracker now: through the core torrent
// once it runs, else through the metadata fetch, whose next attempt
// takes every tracker.
func (t *nativeTorrent) Reannounce() {
	t.mu.Lock()
	c := t.core
	if c == nil {
		for u, st := range t.trackerStats {
			st.NextAnnounce = time.Time{}
			t.trackerStats[u] = st
		}
	}
	t.mu.Unlock()
	if c != nil {
		c.Reannounce()
		return
	}
	t.kick()
}

func (t *nativeTorrent) Merge(spec Spec) error {
	if spec.Magnet == "" {
		return nil
	}
	ms, err := torrent.TorrentSpecFromMagnetUri(spec.Magnet)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadMagnet, err)
	}
	t.mu.Lock()
	changed := false
	for _, tier := range ms.Trackers {
		for _, u := range tier {
			if checkTrackerURL(u) == nil && !slices.Contains(t.trackers, u) {
				t.trackers = append(t.trackers, u)
				changed = true
			}
		}
	}
	if changed && t.core != nil {
		t.core.SetTrackers(t.trackers)
	}
	t.mu.Unlock()
	t.AddPeers(ms.PeerAddrs)
	return nil
}

func (t *nativeTorrent) Trackers() []TrackerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TrackerStatus, len(t.trackers))
	for i, u := range t.trackers {
		st, ok := t.trackerStats[u]
		if !ok {
			st = TrackerStatus{URL: u, Seeders: -1, Leechers: -1}
		}
		out[i] = st
	}
	return out
}

// announced records the outcome of an announce.
func (t *nativeTorrent) announced(s native.TrackerStat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TrackerStatus{
		URL: s.URL, LastAnnounce: s.LastAnnounce, LastError: clipText(s.LastError),
		Seeders: s.Seeders, Leechers: s.Leechers, NextAnnounce: s.NextAnnounce,
	}
	if old, ok := t.trackerStats[s.URL]; ok && s.LastError != "" {
		st.Seeders, st.Leechers = old.Seeders, old.Leechers // as of the last success
	}
	t.trackerStats[s.URL] = st
}

func (t *nativeTorrent) SetTrackers(urls []string) {
	t.mu.Lock()
	t.trackers = slices.Clone(urls)
	if t.core != nil {
		t.core.SetTrackers(t.trackers)
	}
	t.mu.Unlock()
	t.kick()
}

func (t *nativeTorrent) Peers() []PeerStat {
	t.mu.Lock()
	c := t.core
	var pieces int
	if t.meta != nil {
		pieces = len(t.meta.Hashes)
	}
	t.mu.Unlock()
	if c == nil {
		return []PeerStat{}
	}
	now := time.Now()
	ps := c.Peers()
	out := make([]PeerStat, 0, len(ps))
	t.mu.Lock()
	defer t.mu.Unlock()
	live := make(map[netip.AddrPort]rateSample, len(ps))
	for _, p := range ps {
		s, ok := t.peerRates[p.Addr]
		if !ok {
			s = rateSample{at: now, down: p.Downloaded, up: p.Uploaded}
		} else if dt := now.Sub(s.at); dt >= time.Second {
			s = rateSample{
				at: now, down: p.Downloaded, up: p.Uploaded,
				dRate: int64(float64(p.Downloaded-s.down) / dt.Seconds()),
				uRt:   int64(float64(p.Uploaded-s.up) / dt.Seconds()),
			}
		}
		live[p.Addr] = s
		st := PeerStat{
			Addr: p.Addr.String(), Client: p.Client, Network: networkName(p), Source: p.Source,
			Downloaded: p.Downloaded, Uploaded: p.Uploaded, DownloadRate: s.dRate, UploadRate: s.uRt,
			Flags: []string{}, Encryption: p.Encryption,
		}
		if p.Network == native.NetworkUTP {
			st.Flags = append(st.Flags, "utp")
		}
		if p.Incoming {
			st.Flags = append(st.Flags, "incoming")
		}
		if pieces > 0 {
			st.Progress = float64(p.Has) / float64(pieces)
			if p.Has == pieces {
				st.Flags = append(st.Flags, "seed")
			}
		}
		out = append(out, st)
	}
	t.peerRates = live
	return out
}

func (t *nativeTorrent) WriteError() error {
	t.mu.Lock()
	werr, c := t.werr, t.core
	t.mu.Unlock()
	if werr != nil {
		return werr
	}
	if c != nil {
		return c.Err()
	}
	return nil
}

// ClearWriteError forgets the error; a core torrent stopped by one is
// replaced by a new one that keeps its pieces.
func (t *nativeTorrent) ClearWriteError() {
	t.mu.Lock()
	t.werr = nil
	c := t.core
	t.mu.Unlock()
	if c != nil && c.Err() != nil {
		t.spawn(func() { t.load(t.ctx, false, nil) })
	}
}

func (t *nativeTorrent) Stats() Stats {
	t.mu.Lock()
	st := Stats{Name: SanitizeName(t.name), Checking: t.checking}
	c, meta, l, base := t.core, t.meta, t.layout, t.base
	t.mu.Unlock()
	st.Network = t.e.watch.network()
	st.BytesRead, st.BytesWritten, st.HashFailures = base.read, base.written, base.hashFailures
	if meta == nil {
		return st
	}
	st.HasInfo = true
	st.Private = meta.Private
	st.Size = l.size
	st.Pieces, st.PieceSize = len(meta.Hashes), meta.PieceLength
	if c == nil {
		st.Checking = true // loading: the completion store, or hashing
		return st
	}
	cs := c.Stats()
	st.Peers = cs.Peers
	st.BytesRead += cs.Downloaded - cs.Wasted
	st.BytesWritten += cs.Uploaded
	st.HashFailures += cs.HashFailures
	st.Completed = l.dataIn(t.verifiedSpans(c, meta))
	return st
}

// verifiedSpans returns the byte spans of the verified pieces.
func (t *nativeTorrent) verifiedSpans(c *native.Torrent, meta *native.Meta) []extent {
	var out []extent
	for i, ok := range c.Have() {
		if !ok {
			continue
		}
		from := int64(i) * meta.PieceLength
		if n := len(out); n > 0 && out[n-1].to == from {
			out[n-1].to = from + meta.PieceLength
			continue
		}
		out = append(out, extent{from, from + meta.PieceLength})
	}
	return out
}

func (t *nativeTorrent) Files() []string {
	t.mu.Lock()
	l := t.layout
	t.mu.Unlock()
	if l == nil {
		return nil
	}
	out := make([]string, len(l.paths))
	for i, p := range l.paths {
		out[i] = filepath.FromSlash(p)
	}
	return out
}

func (t *nativeTorrent) FileStats() []FileStat {
	t.mu.Lock()
	c, meta, l := t.core, t.meta, t.layout
	t.mu.Unlock()
	if l == nil {
		return nil
	}
	var done []extent
	if c != nil {
		done = t.verifiedSpans(c, meta)
	}
	return l.fileStats(done)
}

func (t *nativeTorrent) FileIndex(path string) (int, int64, bool) {
	t.mu.Lock()
	l := t.layout
	t.mu.Unlock()
	if l == nil {
		return 0, 0, false
	}
	i, ok := l.dataFileIndex(path)
	if !ok {
		return 0, 0, false
	}
	return i, l.extents[i].to - l.extents[i].from, true
}

func (t *nativeTorrent) PieceBitfield() (int, []byte) {
	t.mu.Lock()
	c, meta := t.core, t.meta
	t.mu.Unlock()
	if meta == nil {
		return 0, nil
	}
	if c == nil {
		return len(meta.Hashes), make([]byte, (len(meta.Hashes)+7)/8)
	}
	return len(meta.Hashes), bitfieldOf(c.Have())
}

func (t *nativeTorrent) MetaInfo() ([]byte, error) {
	t.mu.Lock()
	meta, trackers := t.meta, slices.Clone(t.trackers)
	t.mu.Unlock()
	if meta == nil {
		return nil, errors.New("metainfo: the metadata is not known yet")
	}
	mi := metainfo.MetaInfo{InfoBytes: meta.InfoBytes}
	if len(trackers) > 0 {
		mi.Announce = trackers[0]
		for _, u := range trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{u})
		}
	}
	return encodeMetaInfo(&mi)
}

// fileOnDisk returns the path of data file index, and its bytes in the
// torrent.
func (t *nativeTorrent) fileOnDisk(index int) (string, extent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.layout == nil {
		return "", extent{}, errors.New("open file: the metadata is not known yet")
	}
	if index < 0 || index >= len(t.layout.paths) {
		return "", extent{}, fmt.Errorf("open file: index %d out of range (%d files)", index, len(t.layout.paths))
	}
	return t.meta.Files[t.coreFile[index]].Path, t.layout.extents[index], nil
}

// openData opens data file index read-only through the core's handle on
// the download dir (native.Torrent.OpenFile), as the core's writes do.
func (t *nativeTorrent) openData(index int) (*os.File, error) {
	t.mu.Lock()
	core := t.core
	ok := t.layout != nil && index >= 0 && index < len(t.coreFile)
	var j int
	if ok {
		j = t.coreFile[index]
	}
	t.mu.Unlock()
	if core == nil || !ok {
		return nil, errors.New("open file: the torrent is not loaded")
	}
	return core.OpenFile(j)
}

// networkName names a peer's transport as the API does (and the other
// core): tcp4, tcp6, or udp4/udp6 for uTP.
func networkName(p native.PeerStat) string {
	n := "tcp"
	if p.Network == native.NetworkUTP {
		n = "udp"
	}
	if p.Addr.Addr().Unmap().Is4() {
		return n + "4"
	}
	return n + "6"
}
