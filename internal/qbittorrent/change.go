package qbittorrent

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/lodestone-bt/lodestone/internal/service"
)

// Reading a change request's parameters and answering its failures as
// qBittorrent does: a missing parameter is 400 naming it, a hash of no
// task 404 "Not Found" (on the endpoints that name one torrent; those
// naming several skip unknown hashes), and what the service refuses is
// 400, 409 or 500 with the service's reason.

// formOK parses r's parameters (query and body, urlencoded or multipart)
// or answers 400 and returns false.
func formOK(w http.ResponseWriter, r *http.Request) bool {
	if err := parseForm(r); err != nil {
		writeStatus(w, http.StatusBadRequest, "Bad Request")
		return false
	}
	return true
}

// need parses r's parameters and reports whether every name is among
// them (empty values count, as qBittorrent's requireParams counts them);
// otherwise it answers 400 naming the missing ones, as qBittorrent 5.2
// does (5.0 answers a bare "Bad Request"), and returns false.
func need(w http.ResponseWriter, r *http.Request, names ...string) bool {
	if !formOK(w, r) {
		return false
	}
	var missing []string
	for _, n := range names {
		if !has(r, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		writeStatus(w, http.StatusBadRequest, "Missing required parameters: "+strings.Join(missing, ", "))
		return false
	}
	return true
}

// parseInt reads an integer parameter.
func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// fail answers err, a failure of the service, with qBittorrent's kind of
// status: 404 for a task that is gone, 400 for what the request got
// wrong, 409 for what the task's state or the disk does not allow, and
// 500 (logged) for anything else.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, service.ErrTaskNotFound):
		writeStatus(w, http.StatusNotFound, "Not Found")
	case errors.Is(err, service.ErrNoSuchCategory):
		writeStatus(w, http.StatusConflict, "Incorrect category name")
	case errors.Is(err, service.ErrInvalidParams), errors.Is(err, service.ErrBadMagnet):
		writeStatus(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, service.ErrBadTorrent), errors.Is(err, service.ErrUnsupported):
		writeStatus(w, http.StatusUnsupportedMediaType, err.Error())
	case errors.Is(err, service.ErrTaskState), errors.Is(err, service.ErrPathConflict),
		errors.Is(err, service.ErrNoSpace), errors.Is(err, service.ErrUnsafePath),
		errors.Is(err, service.ErrFetch):
		writeStatus(w, http.StatusConflict, err.Error())
	case errors.Is(err, service.ErrClosed):
		writeStatus(w, http.StatusServiceUnavailable, "Service Unavailable")
	default:
		h.log.Error("qbittorrent api: request failed", "err", err)
		writeStatus(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// each runs op on every task a "hashes" parameter names, as qBittorrent
// applies an action to every torrent it finds: hashes of no task, and
// tasks removed meanwhile, are skipped. The first other error is
// answered after every task had its turn; without one, 200 and an empty
// body.
func (h *Handler) each(w http.ResponseWriter, r *http.Request, op func(id string) error) {
	var first error
	for _, t := range h.tasksFor(r.FormValue("hashes")) {
		if err := op(t.TaskID); err != nil && !errors.Is(err, service.ErrTaskNotFound) && first == nil {
			first = err
		}
	}
	if first != nil {
		h.fail(w, first)
		return
	}
	writeText(w, "")
}
