package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

func TestQueueDownloads(t *testing.T) {
	h := newHarness(t)
	setSettings(api.SessionSetParams{MaxActiveDownloads: ptr(1)})(h, "", nil)
	a, fa := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, fb := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	if h.state(a) != api.StateDownloading || h.state(b) != api.StateQueued {
		t.Fatalf("a %s, b %s; want downloading, queued", h.state(a), h.state(b))
	}
	if fb.mode().download {
		t.Error("a queued download was allowed to download")
	}
	h.drain()
	pause(h, a, fa)
	evs := h.drain()
	if got := stateEvents(t, evs, b); !slices.Equal(got, []string{"queued>downloading"}) {
		t.Errorf("b on a's pause: %v", got)
	}
	if !fb.mode().download {
		t.Error("b left the queue but may not download")
	}
	resume(h, a, fa)
	// a is older: it takes its slot back.
	if h.state(a) != api.StateDownloading || h.state(b) != api.StateQueued {
		t.Fatalf("after resume: a %s, b %s", h.state(a), h.state(b))
	}
	// Raising the limit frees b at once.
	h.drain()
	setSettings(api.SessionSetParams{MaxActiveDownloads: ptr(0)})(h, "", nil)
	if got := stateEvents(t, h.drain(), b); !slices.Equal(got, []string{"queued>downloading"}) {
		t.Errorf("b on the limit's removal: %v", got)
	}
}

func TestQueueSeeds(t *testing.T) {
	h := newHarness(t)
	a, fa := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, fb := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	fa.complete()
	h.poll()
	fb.complete()
	h.poll()
	setSettings(api.SessionSetParams{MaxActiveSeeds: ptr(1)})(h, "", nil)
	// First finished, first served.
	if h.state(a) != api.StateSeeding || h.state(b) != api.StateQueued {
		t.Fatalf("a %s, b %s; want seeding, queued", h.state(a), h.state(b))
	}
	if fb.mode().upload {
		t.Error("a queued seed may upload")
	}
}

// TestMagnetWaitsForSpace: a magnet whose data does not fit stops in
// error when its metadata arrives, and goes on by itself once it fits.
func TestMagnetWaitsForSpace(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:1111111111111111111111111111111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	id, ft := "1111111111111111111111111111111111111111", h.eng.torrent("1111111111111111111111111111111111111111")
	ft.giveInfo(engine.FileStat{Path: "huge/a", Size: 1 << 60}, engine.FileStat{Path: "huge/b", Size: 10})
	waitFor(h, func() bool { return h.state(id) == api.StateError })
	tk, _ := h.svc.Get(id)
	if !strings.HasPrefix(tk.Error, "not enough free space") {
		t.Errorf("error %q, want not enough free space", tk.Error)
	}
	if ft.mode().download {
		t.Error("a task without room may download")
	}
	// Skipping the huge file makes it fit: it goes on by itself.
	if _, err := h.svc.Set(id, api.TaskSetParams{FilePriorities: map[int]string{0: api.PrioritySkip}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.poll()
	}
	if got := h.state(id); got != api.StateDownloading {
		t.Fatalf("state %s after skipping the huge file, want downloading", got)
	}
}

func TestMoveRunsWithoutTheLock(t *testing.T) {
	h := newHarness(t)
	a, fa := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	if err := os.WriteFile(filepath.Join(h.dir, "a.bin"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fa.set(func(ft *fakeTorrent) { ft.files[0].Completed = 1 << 19 }) // half
	h.poll()
	before, err := h.svc.Get(a)
	if err != nil || before.Completed != 1<<19 {
		t.Fatalf("before the move: %+v, %v", before, err)
	}
	fa.dropGate = make(chan struct{}) // the move waits in Drop
	done := make(chan error, 1)
	go func() {
		_, err := h.svc.Move(a, "elsewhere")
		done <- err
	}()
	waitFor(h, func() bool {
		tk, err := h.svc.Get(a)
		return err == nil && tk.Busy == api.BusyMoving
	})
	// Meanwhile: the other task answers, the moving one shows its state
	// and refuses what needs its data.
	if _, err := h.svc.Get(b); err != nil {
		t.Fatal(err)
	}
	if got := h.state(a); got != api.StateDownloading {
		t.Errorf("a moving shows %s, want its state before (downloading)", got)
	}
	if tk, _ := h.svc.Get(a); tk.Completed != before.Completed || tk.Pieces != before.Pieces || tk.Pieces == 0 {
		t.Errorf("a moving shows completed %d, pieces %d; want what it had (%d, %d)", tk.Completed, tk.Pieces, before.Completed, before.Pieces)
	}
	if err := h.svc.Pause(context.Background(), a); !errors.Is(err, ErrTaskState) {
		t.Errorf("pause while moving: %v, want ErrTaskState", err)
	}
	h.poll() // the poll skips it
	stats := h.svc.Stats()
	if stats.Tasks != 2 {
		t.Errorf("session.stats counts %d tasks", stats.Tasks)
	}
	close(fa.dropGate)
	if err := <-done; err != nil {
		t.Fatalf("move: %v", err)
	}
	tk, err := h.svc.Get(a)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(h.dir, "elsewhere")
	if tk.DownloadDir != want || tk.Busy != "" || tk.State != api.StateDownloading {
		t.Errorf("after the move: dir %s busy %q state %s; want %s, not busy, downloading", tk.DownloadDir, tk.Busy, tk.State, want)
	}
	if _, err := os.Stat(filepath.Join(want, "a.bin")); err != nil {
		t.Errorf("data not moved: %v", err)
	}
	rec, _ := h.st.task(a)
	if rec.DownloadDir != want {
		t.Errorf("stored dir %q, want %q", rec.DownloadDir, want)
	}
	if nt := h.eng.torrent(a); nt == fa || nt.dir != want {
		t.Errorf("the engine torrent was not replaced in the new dir")
	}
}

func TestRemoveDeletesOnlyItsFilesAndReAddWaits(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("r.bin", 1<<20, api.TaskAddParams{})
	data := filepath.Join(h.dir, "r.bin")
	other := filepath.Join(h.dir, "other.txt")
	for _, p := range []string{data, other} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ft.dropGate = make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- h.svc.Remove(context.Background(), id, true) }()
	waitFor(h, func() bool { tk, err := h.svc.Get(id); return err == nil && tk.Busy == api.BusyRemoving })
	// The same torrent added meanwhile waits for the removal.
	readd := make(chan error, 1)
	go func() {
		_, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + id})
		readd <- err
	}()
	select {
	case err := <-readd:
		t.Fatalf("re-add returned during the removal: %v", err)
	case <-time.After(50 * time.Millisecond):
		// Proving a wait: nothing may happen while the removal holds.
	}
	close(ft.dropGate)
	if err := <-done; err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := <-readd; err != nil {
		t.Fatalf("re-add: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task data left: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file was deleted: %v", err)
	}
	if nt := h.eng.torrent(id); nt == ft || nt.isDropped() {
		t.Error("the re-added task's engine torrent is the removed one's, or dropped")
	}
	if got := h.state(id); got != api.StateMetadata {
		t.Errorf("re-added task in %s, want metadata", got)
	}
	var removed bool
	for _, ev := range h.drain() {
		removed = removed || ev.name == api.EventTaskRemoved
	}
	if !removed {
		t.Error("no task.removed")
	}
}

func TestRemoveStoreFailureKeepsTheTask(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("k.bin", 1<<20, api.TaskAddParams{})
	h.st.failNext(errors.New("disk on fire"))
	if err := h.svc.Remove(context.Background(), id, false); err == nil {
		t.Fatal("remove succeeded though the store failed")
	}
	tk, err := h.svc.Get(id)
	if err != nil || tk.Busy != "" || tk.State != api.StateDownloading {
		t.Fatalf("after a failed remove: %+v, %v", tk, err)
	}
	if ft.isDropped() || !ft.mode().download {
		t.Error("a failed remove left the torrent dropped or stopped")
	}
}

// TestConcurrentSessionSetLosesNothing sets each setting from its own
// goroutine, many times over: the result holds every goroutine's last
// value.
func TestConcurrentSessionSetLosesNothing(t *testing.T) {
	h := newHarness(t)
	const rounds = 50
	setters := []func(i int) api.SessionSetParams{
		func(i int) api.SessionSetParams { return api.SessionSetParams{DownloadRateLimit: ptr(int64(1000 + i))} },
		func(i int) api.SessionSetParams { return api.SessionSetParams{UploadRateLimit: ptr(int64(2000 + i))} },
		func(i int) api.SessionSetParams { return api.SessionSetParams{MaxActiveDownloads: ptr(3000 + i)} },
		func(i int) api.SessionSetParams { return api.SessionSetParams{MaxActiveSeeds: ptr(4000 + i)} },
		func(i int) api.SessionSetParams { return api.SessionSetParams{SeedRatioLimit: ptr(float64(5000 + i))} },
		func(i int) api.SessionSetParams { return api.SessionSetParams{SeedTimeLimit: ptr(int64(6000 + i))} },
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(setters)*rounds)
	for _, set := range setters {
		wg.Go(func() {
			for i := range rounds {
				if _, err := h.svc.SetSettings(set(i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := h.svc.Settings()
	if err != nil {
		t.Fatal(err)
	}
	last := rounds - 1
	want := api.Settings{
		DownloadRateLimit: int64(1000 + last), UploadRateLimit: int64(2000 + last),
		MaxActiveDownloads: 3000 + last, MaxActiveSeeds: 4000 + last,
		SeedRatioLimit: float64(5000 + last), SeedTimeLimit: int64(6000 + last),
		Blocklists: []string{}, RestartRequired: []string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings %+v\nwant     %+v", got, want)
	}
	if stored, _ := h.st.Settings(); !reflect.DeepEqual(wireSettings(stored, 0), want) {
		t.Errorf("stored %+v", stored)
	}
}

// TestSetIsAllOrNothing: a task.set that fails changes nothing, in
// memory or in the store.
func TestSetIsAllOrNothing(t *testing.T) {
	h := newHarness(t)
	id, _ := h.addTorrent("s.bin", 1<<20, api.TaskAddParams{Labels: []string{"old"}})
	tests := []struct {
		name string
		fail error
		p    api.TaskSetParams
	}{
		{"bad priority", nil, api.TaskSetParams{Labels: &[]string{"new"}, FilePriorities: map[int]string{0: "urgent"}}},
		{"index out of range", nil, api.TaskSetParams{Labels: &[]string{"new"}, Sequential: ptr(true), FilePriorities: map[int]string{7: api.PrioritySkip}}},
		{"negative limit", nil, api.TaskSetParams{Labels: &[]string{"new"}, UploadRateLimit: ptr(int64(-1))}},
		{"store fails", errors.New("disk on fire"), api.TaskSetParams{Labels: &[]string{"new"}, Sequential: ptr(true), FilePriorities: map[int]string{0: api.PrioritySkip}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.st.failNext(tt.fail)
			if _, err := h.svc.Set(id, tt.p); err == nil {
				t.Fatal("set succeeded")
			}
			h.st.failNext(nil)
			tk, err := h.svc.Get(id)
			if err != nil {
				t.Fatal(err)
			}
			rec, _ := h.st.task(id)
			if fmt.Sprint(tk.Labels) != "[old]" || tk.Sequential || fmt.Sprint(rec.Labels) != "[old]" || rec.Sequential || len(rec.FilePriorities) != 0 {
				t.Errorf("half applied: task labels %v seq %v; stored labels %v seq %v prios %v", tk.Labels, tk.Sequential, rec.Labels, rec.Sequential, rec.FilePriorities)
			}
		})
	}
	// And one that works changes everything, in one store write.
	before := h.st.writes
	tk, err := h.svc.Set(id, api.TaskSetParams{Labels: &[]string{"new"}, Sequential: ptr(true), DownloadRateLimit: ptr(int64(5)), FilePriorities: map[int]string{0: api.PriorityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	if h.st.writes != before+1 {
		t.Errorf("task.set took %d store writes, want 1", h.st.writes-before)
	}
	rec, _ := h.st.task(id)
	if fmt.Sprint(tk.Labels, rec.Labels) != "[new] [new]" || !rec.Sequential || rec.DownloadLimit != 5 || rec.FilePriorities[0] != api.PriorityHigh {
		t.Errorf("set applied %+v, stored %+v", tk, rec)
	}
}

func TestRestartRestoresWithoutEvents(t *testing.T) {
	h := newHarness(t)
	a, fa := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	m, _ := h.addMagnet("2222222222222222222222222222222222222222", false)
	fa.complete()
	h.poll()
	pause(h, b, nil)
	h.restart()
	if got := h.state(b); got != api.StatePaused {
		t.Errorf("b restored %s, want paused", got)
	}
	if got := h.state(m); got != api.StateMetadata {
		t.Errorf("magnet restored %s, want metadata", got)
	}
	if got := h.state(a); got != api.StateDownloading {
		t.Errorf("a restored %s (a restored fake torrent has no data verified), want downloading", got)
	}
	rec, _ := h.st.task(a)
	if rec.FinishedAt.IsZero() {
		t.Error("the finish was not stored")
	}
	if evs := h.drain(); len(evs) != 0 {
		t.Errorf("restoring published %v", names(evs))
	}
	st := h.svc.Stats()
	if st.Tasks != 3 || st.TasksByState[api.StatePaused] != 1 || st.TasksByState[api.StateMetadata] != 1 || st.TasksByState[api.StateDownloading] != 1 {
		t.Errorf("session.stats %+v", st)
	}
}

func TestRestoreLoadError(t *testing.T) {
	h := newHarness(t)
	id, _ := h.addTorrent("e.bin", 1<<20, api.TaskAddParams{})
	h.stop()
	h.eng = newFakeEngine()
	h.eng.addErr = errors.New("the engine refuses it")
	h.start()
	tk, err := h.svc.Get(id)
	if err != nil || tk.State != api.StateError || tk.Error != "the engine refuses it" {
		t.Errorf("restored %+v, %v; want state error with the engine's reason", tk, err)
	}
	if err := h.svc.Recheck(context.Background(), id); !errors.Is(err, ErrTaskState) {
		t.Errorf("recheck of an unloaded task: %v, want ErrTaskState", err)
	}
}

// TestQuietTasksAreReadSeldom: a seed with no peer is read every
// quietPollInterval; one that gets a peer is read on every poll again.
func TestQuietTasksAreReadSeldom(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("q.bin", 1<<20, api.TaskAddParams{})
	ft.complete()
	h.poll()
	if h.state(id) != api.StateSeeding {
		t.Fatalf("state %s", h.state(id))
	}
	ft.set(func(ft *fakeTorrent) { ft.sentUp = 100 })
	h.poll()
	if tk, _ := h.svc.Get(id); tk.Uploaded != 0 {
		t.Errorf("a quiet seed was read 1 s after the last read (uploaded %d)", tk.Uploaded)
	}
	for range 4 {
		h.poll()
	}
	if tk, _ := h.svc.Get(id); tk.Uploaded != 100 {
		t.Errorf("a quiet seed was not read within 5 s (uploaded %d)", tk.Uploaded)
	}
	ft.set(func(ft *fakeTorrent) { ft.peers, ft.sentUp = 1, 200 })
	for range 5 {
		h.poll()
	}
	ft.set(func(ft *fakeTorrent) { ft.sentUp = 300 })
	h.poll()
	if tk, _ := h.svc.Get(id); tk.Uploaded != 300 || tk.Peers != 1 {
		t.Errorf("a seed with a peer was not read at the next poll: %+v", tk)
	}
}

// TestSeedTimeLimitOnTime: a quiet seed (no peer) still stops at its
// seed_time_limit, not up to quietPollInterval later.
func TestSeedTimeLimitOnTime(t *testing.T) {
	h := newHarness(t)
	setSettings(api.SessionSetParams{SeedTimeLimit: ptr(int64(2))})(h, "", nil)
	id, ft := h.addTorrent("st.bin", 1<<20, api.TaskAddParams{})
	ft.complete()
	h.poll()
	if h.state(id) != api.StateSeeding {
		t.Fatalf("state %s", h.state(id))
	}
	h.poll()
	h.poll() // 2 s after the finish
	if got := h.state(id); got != api.StateFinished {
		t.Errorf("state %s at the seed time limit, want finished", got)
	}
}

func TestFinishIsStoredBeforeAnnounced(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("f.bin", 1<<20, api.TaskAddParams{})
	ft.complete()
	h.st.failNext(errors.New("disk on fire"))
	h.poll()
	if got := h.state(id); got != api.StateDownloading {
		t.Errorf("state %s with the finish unstored, want downloading", got)
	}
	for _, ev := range h.drain() {
		if ev.name == api.EventTaskFinished {
			t.Fatal("task.finished announced before it was stored")
		}
	}
	h.poll()
	evs := h.drain()
	if !slices.Contains(names(evs), api.EventTaskFinished) || h.state(id) != api.StateSeeding {
		t.Errorf("after a poll that stores it: %v, state %s", names(evs), h.state(id))
	}
}

func TestTotalsAreStoredOnClose(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("u.bin", 1<<20, api.TaskAddParams{})
	ft.set(func(ft *fakeTorrent) { ft.sentUp, ft.sentDown = 300, 700 })
	h.poll()
	h.stop()
	rec, _ := h.st.task(id)
	if rec.Uploaded != 300 || rec.Downloaded != 700 {
		t.Errorf("stored totals up %d down %d, want 300 and 700", rec.Uploaded, rec.Downloaded)
	}
}

func TestClosedServiceRefuses(t *testing.T) {
	h := newHarness(t)
	id, _ := h.addTorrent("c.bin", 1<<20, api.TaskAddParams{})
	h.stop()
	if err := h.svc.Pause(context.Background(), id); !errors.Is(err, ErrClosed) {
		t.Errorf("pause after close: %v", err)
	}
	if _, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:3333333333333333333333333333333333333333"}); !errors.Is(err, ErrClosed) {
		t.Errorf("add after close: %v", err)
	}
	if err := h.svc.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("run after close: %v", err)
	}
}

// TestSessionStatsFollowTheTasks: session.stats's sums are kept as tasks
// change, not recomputed: they must match the tasks through reads,
// pauses, moves and removals.
func TestSessionStatsFollowTheTasks(t *testing.T) {
	h := newHarness(t)
	a, fa := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{})
	b, fb := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{})
	for i := range 4 {
		fa.set(func(ft *fakeTorrent) { ft.sentDown, ft.peers = int64(i+1)*1000, 1 })
		fb.set(func(ft *fakeTorrent) { ft.sentDown, ft.sentUp, ft.peers = int64(i+1)*10, 7, 1 })
		h.poll()
	}
	check := func(when string) {
		t.Helper()
		var want api.SessionStats
		for _, tk := range h.svc.List(ListFilter{}) {
			want.DownloadRate += tk.DownloadRate
			want.UploadRate += tk.UploadRate
		}
		got := h.svc.Stats()
		if got.DownloadRate != want.DownloadRate || got.UploadRate != want.UploadRate {
			t.Errorf("%s: session.stats rates %d/%d, the tasks' sum %d/%d", when, got.DownloadRate, got.UploadRate, want.DownloadRate, want.UploadRate)
		}
	}
	st := h.svc.Stats()
	if st.Downloaded != 4040 || st.Uploaded != 7 || st.DownloadRate == 0 {
		t.Errorf("session.stats %+v, want downloaded 4040, uploaded 7, a download rate", st)
	}
	check("downloading")
	pause(h, a, nil)
	if st := h.svc.Stats(); st.DownloadRate == 0 {
		t.Error("no rate left after pausing one of two")
	}
	check("a paused")
	if err := h.svc.Remove(context.Background(), b, false); err != nil {
		t.Fatal(err)
	}
	st = h.svc.Stats()
	if st.Downloaded != 4000 || st.Uploaded != 0 || st.DownloadRate != 0 || st.Tasks != 1 {
		t.Errorf("after removing b: %+v", st)
	}
	check("b removed")
}
