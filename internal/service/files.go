package service

import (
	"encoding/base64"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// Files returns the files of a task (empty until its metadata is known,
// and while the task is busy).
func (s *Service) Files(id string) (api.TaskFilesResult, error) {
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	var t engine.Torrent
	var prios map[int]string
	if err == nil {
		t, prios = tk.t, tk.rec.FilePriorities
	}
	s.mu.Unlock()
	if err != nil {
		return api.TaskFilesResult{}, err
	}
	res := api.TaskFilesResult{Files: []api.TaskFile{}}
	if t == nil {
		return res, nil
	}
	for i, f := range t.FileStats() {
		// The user's choice, whatever the engine holds while the task is
		// paused or queued.
		prio, ok := prios[i]
		if !ok {
			prio = api.PriorityNormal
		}
		res.Files = append(res.Files, api.TaskFile{Index: i, Path: f.Path, Size: f.Size, Completed: f.Completed, Priority: prio})
	}
	return res, nil
}

// Pieces returns which of a task's pieces are verified.
func (s *Service) Pieces(id string) (api.TaskPiecesResult, error) {
	t, err := s.torrentOf(id)
	if err != nil {
		return api.TaskPiecesResult{}, err
	}
	if t == nil {
		return api.TaskPiecesResult{}, nil
	}
	n, have := t.PieceBitfield()
	return api.TaskPiecesResult{Pieces: n, Have: base64.StdEncoding.EncodeToString(have)}, nil
}

// torrentOf returns the engine torrent of task id, or nil when the task
// could not be loaded or is busy.
func (s *Service) torrentOf(id string) (engine.Torrent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return nil, err
	}
	return tk.t, nil
}
