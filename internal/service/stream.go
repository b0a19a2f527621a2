package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// ErrFileNotFound: the task has no file at that path, or its metadata
// (and so its file list) is not known yet.
var ErrFileNotFound = errors.New("file not found")

// FileStream is an open file of a task, for streaming it while it
// downloads: Read blocks until the bytes are verified (see
// engine.FileReader for waiting, priorities and how reads end). The
// caller must Close it.
type FileStream struct {
	engine.FileReader

	// TaskID, Index and Path name the file: the task, the file's position
	// in the torrent and its path as task.files lists it.
	TaskID string
	Index  int
	Path   string
	// Size is the file's length in bytes.
	Size int64

	stop func() bool // unhooks the reader from the service's shutdown
}

// Close releases the reader.
func (f *FileStream) Close() error {
	f.stop()
	return f.FileReader.Close()
}

// OpenFile opens the file of task id whose path is exactly path as
// task.files lists it (slash-separated, the torrent's name first). The
// path is only ever compared with the task's own list, never joined to a
// directory, so no path can reach anything but the task's files. Reads
// end when ctx ends, when the service closes, and when the task's engine
// torrent is dropped (task.remove, task.move, daemon shutdown).
//
// Errors: ErrInvalidParams (empty id), ErrTaskNotFound, ErrFileNotFound
// (no such path, or no metadata yet), ErrTaskState (the task could not be
// loaded into the engine), ErrClosed.
func (s *Service) OpenFile(ctx context.Context, id, path string) (*FileStream, error) {
	f, whole, dir, err := s.openFile(ctx, id, path)
	if err != nil {
		return nil, err
	}
	// A finished task's file deleted or truncated under it (paths.go).
	if whole && fileGone(dir, path, f.Size) {
		f.Close()
		s.recheckChanged(id)
		return nil, fmt.Errorf("%w: %s of task %s is missing on disk or has changed size; the task is checked again", ErrTaskState, path, id)
	}
	return f, nil
}

// openFile is OpenFile but for the check of the file on disk: whole is
// set when the file is wanted and the task complete, so the file must be
// whole on disk; dir is the task's.
func (s *Service) openFile(ctx context.Context, id, path string) (_ *FileStream, whole bool, dir string, _ error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return nil, false, "", err
	}
	if tk.busy != "" {
		return nil, false, "", fmt.Errorf("%w: task %s is busy %s", ErrTaskState, tk.rec.ID, tk.busy)
	}
	if tk.t == nil {
		return nil, false, "", fmt.Errorf("%w: task %s could not be loaded: %s", ErrTaskState, tk.rec.ID, tk.errorText())
	}
	if !tk.t.HasInfo() {
		return nil, false, "", fmt.Errorf("%w: task %s has no metadata yet", ErrFileNotFound, tk.rec.ID)
	}
	index, size, ok := tk.t.FileIndex(path)
	if !ok {
		return nil, false, "", fmt.Errorf("%w: task %s has no file %q", ErrFileNotFound, tk.rec.ID, path)
	}
	// Opened under Service.mu, under which task.remove and task.move take
	// the torrent from the task before dropping it: the reader is opened
	// on a live torrent, and a drop after this ends its reads with
	// ErrTorrentClosed.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	r, err := tk.t.OpenFile(ctx, index)
	if err != nil {
		stop()
		cancel()
		return nil, false, "", err
	}
	return &FileStream{
		FileReader: r,
		TaskID:     tk.rec.ID, Index: index, Path: path, Size: size,
		stop: func() bool { cancel(); return stop() },
	}, tk.done && tk.rec.FilePriorities[index] != api.PrioritySkip, s.taskDir(tk), nil
}
