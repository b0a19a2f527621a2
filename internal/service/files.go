package service

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// startDownloadLocked lets tk download what the user selected. Call it
// once the metadata is known and the task is not paused. s.mu must be
// held.
func (s *Service) startDownloadLocked(tk *task) {
	if tk.queued && !tk.done {
		// Not even for a moment: a core that requests at once would
		// fetch pieces before holdQueuedLocked stops it. The priorities
		// are applied when the task leaves the queue.
		tk.t.Stop()
		return
	}
	prios := make(map[int]engine.Priority, len(tk.rec.FilePriorities))
	for i, p := range tk.rec.FilePriorities {
		prios[i] = engine.Priority(p)
	}
	tk.t.SetPriorities(prios)
	s.holdQueuedLocked(tk)
}

// holdQueuedLocked keeps a queued task from transferring: a queued
// download does not download, a queued seed does not upload. Call it
// after anything that allows transfers. s.mu must be held.
func (s *Service) holdQueuedLocked(tk *task) {
	if !tk.queued || tk.t == nil {
		return
	}
	if tk.done {
		tk.t.StopUpload()
	} else {
		tk.t.Stop()
	}
}

// selectionPriorities turns "download only these files" into priorities.
func selectionPriorities(want []int, numFiles int) (map[int]string, error) {
	if len(want) == 0 {
		return nil, nil
	}
	keep := make(map[int]bool, len(want))
	for _, i := range want {
		if i < 0 || i >= numFiles {
			return nil, fmt.Errorf("%w: file index %d out of range (the torrent has %d files)", ErrInvalidParams, i, numFiles)
		}
		keep[i] = true
	}
	prios := make(map[int]string)
	for i := range numFiles {
		if !keep[i] {
			prios[i] = string(engine.PrioritySkip)
		}
	}
	return prios, nil
}

// Files returns the files of a task (empty until its metadata is known).
func (s *Service) Files(id string) (api.TaskFilesResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return api.TaskFilesResult{}, err
	}
	res := api.TaskFilesResult{Files: []api.TaskFile{}}
	if tk.t == nil {
		return res, nil
	}
	for i, f := range tk.t.FileStats() {
		// The user's choice, whatever the engine holds while the task is
		// paused or queued.
		prio, ok := tk.rec.FilePriorities[i]
		if !ok {
			prio = string(engine.PriorityNormal)
		}
		res.Files = append(res.Files, api.TaskFile{Index: i, Path: f.Path, Size: f.Size, Completed: f.Completed, Priority: prio})
	}
	return res, nil
}

// setPrioritiesLocked validates and applies p to tk durably. s.mu must be
// held.
func (s *Service) setPrioritiesLocked(tk *task, p map[int]string) error {
	if tk.t == nil || !tk.t.HasInfo() {
		return fmt.Errorf("%w: file priorities need the task's metadata", ErrInvalidParams)
	}
	n := len(tk.t.FileStats())
	merged := make(map[int]string, len(tk.rec.FilePriorities)+len(p))
	for i, v := range tk.rec.FilePriorities {
		merged[i] = v
	}
	for i, v := range p {
		if i < 0 || i >= n {
			return fmt.Errorf("%w: file index %d out of range (the task has %d files)", ErrInvalidParams, i, n)
		}
		if !engine.ValidPriority(engine.Priority(v)) {
			return fmt.Errorf("%w: priority %q of file %s is not skip, normal or high", ErrInvalidParams, v, strconv.Itoa(i))
		}
		if v == string(engine.PriorityNormal) {
			delete(merged, i)
		} else {
			merged[i] = v
		}
	}
	// Wanting more data makes a finished task active again.
	if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.FilePriorities, r.SeedingDone = merged, false }); err != nil {
		return err
	}
	if tk.rec.SeedingDone {
		tk.rec.SeedingDone = false
		tk.t.Resume()
		s.holdQueuedLocked(tk)
	}
	if tk.rec.Sequential {
		// Pieces raised for sequential order would override a skip.
		tk.t.ClearSequential()
	}
	tk.rec.FilePriorities = merged
	if !tk.rec.Paused {
		s.startDownloadLocked(tk)
	}
	return nil
}

// wantedDone reports whether every file the user wants is verified on
// disk. Service.mu must be held.
func (tk *task) wantedDone() bool {
	if !tk.stats.HasInfo {
		return false
	}
	if len(tk.rec.FilePriorities) == 0 {
		return tk.stats.Completed == tk.stats.Size
	}
	for i, f := range tk.t.FileStats() {
		if tk.rec.FilePriorities[i] != string(engine.PrioritySkip) && f.Completed < f.Size {
			return false
		}
	}
	return true
}

// Pieces returns which of a task's pieces are verified.
func (s *Service) Pieces(id string) (api.TaskPiecesResult, error) {
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	var t engine.Torrent
	if err == nil {
		t = tk.t
	}
	s.mu.Unlock()
	if err != nil {
		return api.TaskPiecesResult{}, err
	}
	if t == nil {
		return api.TaskPiecesResult{}, nil
	}
	n, have := t.PieceBitfield()
	return api.TaskPiecesResult{Pieces: n, Have: base64.StdEncoding.EncodeToString(have)}, nil
}
