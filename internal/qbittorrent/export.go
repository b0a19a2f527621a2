package qbittorrent

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"

	"github.com/lodestone-bt/lodestone/internal/service"
)

// exportRoutes serve a torrent's .torrent file (qBittorrent 4.5 and
// later; WebAPI 2.8.14).
var exportRoutes = map[string]route{
	"torrents/export": {fn: (*Handler).export},
}

// textNoMetadata is qBittorrent's 409 body for a torrent whose metadata
// has not arrived: its "Unable to export torrent file. Error: %1" with
// the error libtorrent's wrapper gives.
const textNoMetadata = "Unable to export torrent file. Error: Missing metadata"

// export is torrents/export: hash → the task's .torrent (task.export: its
// info dictionary byte for byte, so its info-hash is the task's), 400
// without hash, 404 for no such torrent, 409 before a magnet's metadata.
// It only reads, so GET and POST are both taken, as qBittorrent does.
func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	t, ok := h.requireHash(w, r)
	if !ok {
		return
	}
	res, err := h.svc.Export(t.TaskID)
	switch {
	case errors.Is(err, service.ErrTaskState):
		writeStatus(w, http.StatusConflict, textNoMetadata)
		return
	case err != nil:
		h.fail(w, err)
		return
	}
	b, err := base64.StdEncoding.DecodeString(res.Torrent)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-bittorrent")
	// qBittorrent 5 names the file after the torrent's id.
	w.Header().Set("Content-Disposition", `attachment; filename="`+t.TaskID+`.torrent"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
