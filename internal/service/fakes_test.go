package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// The twins of the service's seams for its unit tests: an in-memory
// store, an in-memory event log (under the real events.Hub), and a fake
// engine whose torrents do what the test says.

// memStore is an in-memory Store. Records are copied in and out through
// JSON, as the real store does, so no caller shares a map with it. fail,
// when set, is returned by the next write instead of writing.
type memStore struct {
	mu       sync.Mutex
	tasks    map[string][]byte
	journal  map[string]store.JournalEntry // by op/task_id
	settings store.Settings
	peerPort int
	fail     error
	writes   int
	paths    map[string][]string // reservations by task id (paths_fakes_test.go)
	left     map[string]string   // paths left by removed tasks
	cats     map[string]store.Category
}

func newMemStore() *memStore {
	return &memStore{tasks: map[string][]byte{}, journal: map[string]store.JournalEntry{}}
}

var _ Store = (*memStore)(nil)

func (m *memStore) failNext(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// writeLocked counts a write, or fails it. m.mu must be held.
func (m *memStore) writeLocked() error {
	if err := m.fail; err != nil {
		m.fail = nil
		return err
	}
	m.writes++
	return nil
}

func (m *memStore) Tasks() ([]store.Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.tasks))
	for id := range m.tasks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []store.Task
	for _, id := range ids {
		var t store.Task
		if err := json.Unmarshal(m.tasks[id], &t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (m *memStore) task(id string) (store.Task, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.tasks[id]
	if !ok {
		return store.Task{}, false
	}
	var t store.Task
	if err := json.Unmarshal(b, &t); err != nil {
		panic(err)
	}
	return t, true
}

func (m *memStore) PutTask(t store.Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	m.tasks[t.ID] = b
	return nil
}

func (m *memStore) updateLocked(id string, fn func(*store.Task)) error {
	b, ok := m.tasks[id]
	if !ok {
		return fmt.Errorf("update task %s: %w", id, store.ErrNotFound)
	}
	var t store.Task
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	fn(&t)
	nb, err := json.Marshal(t)
	if err != nil {
		return err
	}
	m.tasks[id] = nb
	return nil
}

func (m *memStore) UpdateTask(id string, fn func(*store.Task)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	return m.updateLocked(id, fn)
}

func (m *memStore) UpdateTasks(fns map[string]func(*store.Task)) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return nil, err
	}
	var ids []string
	for id, fn := range fns {
		if err := m.updateLocked(id, fn); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (m *memStore) DeleteTask(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	delete(m.tasks, id)
	delete(m.paths, id)
	return nil
}

func (m *memStore) Settings() (store.Settings, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings, nil
}

func (m *memStore) PutSettings(set store.Settings, peerPort int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	m.settings = set
	if peerPort > 0 {
		m.peerPort = peerPort
	}
	return nil
}

func (m *memStore) PeerPort() (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peerPort, nil
}

func (m *memStore) Journal() ([]store.JournalEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.JournalEntry
	for _, k := range slices.Sorted(maps.Keys(m.journal)) {
		e := m.journal[k]
		e.Files = slices.Clone(e.Files)
		out = append(out, e)
	}
	return out, nil
}

func (m *memStore) PutJournal(e store.JournalEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	e.Files = slices.Clone(e.Files)
	m.journal[e.Op+"/"+e.TaskID] = e
	return nil
}

func (m *memStore) ClearJournal(op, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	delete(m.journal, op+"/"+id)
	return nil
}

func (m *memStore) DeleteTaskJournaled(id string, e store.JournalEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	delete(m.tasks, id)
	delete(m.paths, id)
	e.Files = slices.Clone(e.Files)
	m.journal[e.Op+"/"+e.TaskID] = e
	return nil
}

func (m *memStore) UpdateTaskClearJournal(id string, fn func(*store.Task), op string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	if err := m.updateLocked(id, fn); err != nil {
		return err
	}
	delete(m.journal, op+"/"+id)
	return nil
}

func (m *memStore) Categories() ([]store.Category, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Category
	for _, k := range slices.Sorted(maps.Keys(m.cats)) {
		out = append(out, m.cats[k])
	}
	return out, nil
}

func (m *memStore) PutCategory(c store.Category) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	if m.cats == nil {
		m.cats = map[string]store.Category{}
	}
	m.cats[c.Name] = c
	return nil
}

func (m *memStore) DeleteCategory(name string, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writeLocked(); err != nil {
		return err
	}
	delete(m.cats, name)
	for _, id := range ids {
		err := m.updateLocked(id, func(t *store.Task) {
			if t.Category == name {
				t.Category = ""
			}
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// memLog is an in-memory events.Log.
type memLog struct {
	mu     sync.Mutex
	next   uint64
	frames map[uint64][]byte
}

func newMemLog() *memLog { return &memLog{next: 1, frames: map[uint64][]byte{}} }

func (l *memLog) ReserveSeq(n uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.next
	l.next += n
	return first, nil
}

func (l *memLog) AppendEvents(seqs []uint64, frames [][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range seqs {
		l.frames[s] = frames[i]
	}
	return nil
}

func (l *memLog) EventsAfter(after uint64, fn func(uint64, []byte) bool) (uint64, error) {
	l.mu.Lock()
	var seqs []uint64
	for s := range l.frames {
		if s > after {
			seqs = append(seqs, s)
		}
	}
	frames := maps.Clone(l.frames)
	l.mu.Unlock()
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		if !fn(s, frames[s]) {
			break
		}
	}
	return 0, nil
}

// fakeEngine is an Engine whose torrents are fakeTorrents.
type fakeEngine struct {
	mu       sync.Mutex
	torrents map[string]*fakeTorrent
	files    map[string][]engine.FileStat // by id, set before Add
	addErr   error
	alerts   chan engine.Alert
	down, up int64
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{torrents: map[string]*fakeTorrent{}, files: map[string][]engine.FileStat{}, alerts: make(chan engine.Alert, 16)}
}

var _ Engine = (*fakeEngine)(nil)

func (e *fakeEngine) Add(spec engine.Spec) (engine.Torrent, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.addErr != nil {
		return nil, e.addErr
	}
	if t, ok := e.torrents[spec.ID]; ok && !t.isDropped() {
		return t, nil
	}
	t := &fakeTorrent{id: spec.ID, name: spec.Name, dir: spec.DownloadDir, gotInfo: make(chan struct{}), closed: make(chan struct{}), upload: true}
	t.files = e.files[spec.ID]
	if t.files == nil && spec.Size > 0 {
		t.files = []engine.FileStat{{Path: spec.Name, Size: spec.Size}}
	}
	if len(spec.MetaInfo) > 0 {
		t.hasInfo = true
		close(t.gotInfo)
	}
	e.torrents[spec.ID] = t
	return t, nil
}

func (e *fakeEngine) torrent(id string) *fakeTorrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.torrents[id]
}

func (e *fakeEngine) Alerts() <-chan engine.Alert { return e.alerts }

func (e *fakeEngine) SetRateLimits(down, up int64) {
	e.mu.Lock()
	e.down, e.up = down, up
	e.mu.Unlock()
}

// fakeTorrent is an engine.Torrent that transfers nothing by itself: the
// test sets what it has (complete, check, writeErr, giveInfo) and reads
// what the service told it (download, upload, prios).
type fakeTorrent struct {
	id, name, dir string
	gotInfo       chan struct{}
	closed        chan struct{}
	dropOnce      sync.Once
	// dropGate, when set, holds Drop until it is closed.
	dropGate chan struct{}
	// verifyGate, when set, holds Verify until it is closed.
	verifyGate chan struct{}

	mu          sync.Mutex
	hasInfo     bool
	files       []engine.FileStat
	download    bool
	upload      bool
	prios       map[int]engine.Priority
	checking    bool
	writeErr    error
	trackers    []string
	peers       int
	sentUp      int64
	sentDown    int64
	downLimit   int64
	upLimit     int64
	calls       int  // toggles received
	reannounced int  // Reannounce calls
	private     bool // the info's private flag
}

var _ engine.Torrent = (*fakeTorrent)(nil)

func (t *fakeTorrent) ID() string               { return t.id }
func (t *fakeTorrent) GotInfo() <-chan struct{} { return t.gotInfo }
func (t *fakeTorrent) Closed() <-chan struct{}  { return t.closed }
func (t *fakeTorrent) Start()                   { t.SetPriorities(nil) }
func (t *fakeTorrent) PrioritizeSequential()    {}
func (t *fakeTorrent) ClearSequential()         {}
func (t *fakeTorrent) AddPeers([]string)        {}
func (t *fakeTorrent) DialKnownPeers()          {}
func (t *fakeTorrent) Reannounce() {
	t.mu.Lock()
	t.reannounced++
	t.mu.Unlock()
}
func (t *fakeTorrent) Merge(engine.Spec) error      { return nil }
func (t *fakeTorrent) Peers() []engine.PeerStat     { return nil }
func (t *fakeTorrent) MetaInfo() ([]byte, error)    { return []byte("d4:infod6:lengthi1eee"), nil }
func (t *fakeTorrent) PieceBitfield() (int, []byte) { return 0, nil }
func (t *fakeTorrent) OpenFile(context.Context, int) (engine.FileReader, error) {
	return nil, errors.New("fake torrents have no data")
}

func (t *fakeTorrent) HasInfo() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hasInfo
}

func (t *fakeTorrent) isDropped() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}

func (t *fakeTorrent) SetPriorities(p map[int]engine.Priority) {
	t.mu.Lock()
	t.download, t.prios = true, maps.Clone(p)
	t.calls++
	t.mu.Unlock()
}

func (t *fakeTorrent) Stop() {
	t.mu.Lock()
	t.download = false
	t.calls++
	t.mu.Unlock()
}

func (t *fakeTorrent) Pause() {
	t.mu.Lock()
	t.download, t.upload = false, false
	t.calls++
	t.mu.Unlock()
}

func (t *fakeTorrent) Resume() {
	t.mu.Lock()
	t.upload = true
	t.calls++
	t.mu.Unlock()
}

func (t *fakeTorrent) StopUpload() {
	t.mu.Lock()
	t.upload = false
	t.calls++
	t.mu.Unlock()
}

func (t *fakeTorrent) Drop() {
	if t.dropGate != nil {
		<-t.dropGate
	}
	t.dropOnce.Do(func() { close(t.closed) })
}

func (t *fakeTorrent) SetRateLimits(down, up int64) {
	t.mu.Lock()
	t.downLimit, t.upLimit = down, up
	t.mu.Unlock()
}

func (t *fakeTorrent) Verify(ctx context.Context) error {
	t.mu.Lock()
	t.checking = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.checking = false
		t.mu.Unlock()
	}()
	if t.verifyGate != nil {
		select {
		case <-t.verifyGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (t *fakeTorrent) Trackers() []engine.TrackerStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []engine.TrackerStatus
	for _, u := range t.trackers {
		out = append(out, engine.TrackerStatus{URL: u})
	}
	return out
}

func (t *fakeTorrent) SetTrackers(urls []string) {
	t.mu.Lock()
	t.trackers = append([]string(nil), urls...)
	t.mu.Unlock()
}

func (t *fakeTorrent) WriteError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.writeErr
}

func (t *fakeTorrent) ClearWriteError() {
	t.mu.Lock()
	t.writeErr = nil
	t.mu.Unlock()
}

func (t *fakeTorrent) Stats() engine.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := engine.Stats{HasInfo: t.hasInfo, Name: t.name, Checking: t.checking, Peers: t.peers, BytesRead: t.sentDown, BytesWritten: t.sentUp, Private: t.private}
	for _, f := range t.files {
		st.Size += f.Size
		st.Completed += f.Completed
	}
	if t.hasInfo {
		st.Pieces, st.PieceSize = 1, st.Size
	}
	return st
}

func (t *fakeTorrent) Files() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, f := range t.files {
		out = append(out, f.Path)
	}
	return out
}

func (t *fakeTorrent) FileStats() []engine.FileStat {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.hasInfo {
		return nil
	}
	return append([]engine.FileStat(nil), t.files...)
}

func (t *fakeTorrent) FileIndex(path string) (int, int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, f := range t.files {
		if f.Path == path {
			return i, f.Size, true
		}
	}
	return 0, 0, false
}

// complete marks every file (or, with indices, those files) verified.
func (t *fakeTorrent) complete(indices ...int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.files {
		if len(indices) == 0 || slices.Contains(indices, i) {
			t.files[i].Completed = t.files[i].Size
		}
	}
}

// giveInfo makes a magnet's metadata arrive with files.
func (t *fakeTorrent) giveInfo(files ...engine.FileStat) {
	t.mu.Lock()
	t.hasInfo, t.files = true, files
	t.mu.Unlock()
	close(t.gotInfo)
}

func (t *fakeTorrent) set(fn func(t *fakeTorrent)) {
	t.mu.Lock()
	fn(t)
	t.mu.Unlock()
}

// mode returns what the service last told the torrent.
func (t *fakeTorrent) mode() mode {
	t.mu.Lock()
	defer t.mu.Unlock()
	return mode{download: t.download, upload: t.upload}
}
