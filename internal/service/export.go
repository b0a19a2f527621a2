package service

import (
	"encoding/base64"
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

// Export returns task id's .torrent file (task.export). A torrent task's
// is the file it was added with, byte for byte. A magnet task's is built
// from the info dictionary its peers sent (the bytes the info-hash names)
// and the torrent's trackers now, falling back to those stored with the
// metadata. Before a magnet's metadata arrived there is nothing to export:
// the error wraps ErrTaskState.
func (s *Service) Export(id string) (api.TaskExportResult, error) {
	s.mu.Lock()
	tk, err := s.lookupLocked(id)
	var mi []byte
	var t engine.Torrent
	magnet := false
	if err == nil {
		id, mi, magnet, t = tk.rec.ID, tk.rec.MetaInfo, tk.rec.Magnet != "", tk.t
	}
	s.mu.Unlock()
	if err != nil {
		return api.TaskExportResult{}, err
	}
	if len(mi) == 0 {
		return api.TaskExportResult{}, fmt.Errorf("%w: the metadata of task %s has not arrived yet; export it after task.metadata", ErrTaskState, id)
	}
	if magnet && t != nil && t.HasInfo() {
		// The engine's trackers are the task's current ones (task.set,
		// task.add_trackers); the info dictionary is the same bytes.
		if live, lerr := t.MetaInfo(); lerr == nil {
			mi = live
		}
	}
	return api.TaskExportResult{Torrent: base64.StdEncoding.EncodeToString(mi)}, nil
}
