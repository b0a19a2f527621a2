// Package stream serves a task's files over HTTP while they download:
// GET /files/{task_id}/{path...}, with Range requests, so a browser's
// <video> tag plays a file before its download ends. Reads block until the
// requested bytes are verified, and the pieces under the reader are
// fetched before anything else (service.FileStream). The token is checked
// by the handler that wraps this one (httpguard.Guard.Authorize); this
// package answers for the file, its headers and their safety.
package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// ContentSecurityPolicy is sent with every file but PDFs, audio and
// video (see sandboxed). A file of a
// torrent is a stranger's content served from the daemon's own origin,
// the origin of the web UI, which keeps the API token in localStorage: an
// HTML (or SVG, XHTML …) file opened in the browser would run its scripts
// same-origin with the UI and could read the token. "sandbox" (without
// allow-scripts or allow-same-origin) runs no script and gives the
// document an opaque origin, so it can read nothing of the daemon's; it
// also blocks forms, popups and top-level navigation. default-src 'none'
// keeps the page from loading anything from elsewhere (no tracking pixel
// tells a stranger the file was opened); images, media, styles and fonts
// of the same daemon are allowed so an HTML readme still looks right.
const ContentSecurityPolicy = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'"

// sandboxed reports whether a file of type ctype is served with
// ContentSecurityPolicy. Audio and video are not: a browser opening one
// shows it in a media document whose player fetches the file again, and
// from a sandboxed (opaque-origin) document that fetch is cross-site, so
// it would go without the UI's SameSite cookie and be refused. They need
// no sandbox either: with their declared type and nosniff, a browser
// plays them or fails, never renders them as a page. PDFs are exempt too:
// browsers refuse to show a sandboxed PDF, and their PDF viewers run no
// script in the page's origin.
func sandboxed(ctype string) bool {
	return !strings.HasPrefix(ctype, "application/pdf") &&
		!strings.HasPrefix(ctype, "audio/") && !strings.HasPrefix(ctype, "video/")
}

// Handler serves GET and HEAD /files/{task_id}/{path...}. Create it with
// New; Close it before the HTTP server's Shutdown, so open streams end.
type Handler struct {
	svc *service.Service
	log *slog.Logger

	ctx    context.Context // ends with Close: every open stream ends
	cancel context.CancelFunc

	// mu guards closed and the additions to open (Add must not race
	// with Close's Wait).
	mu     sync.Mutex
	closed bool
	open   sync.WaitGroup // requests being served
}

// New returns the file handler. It reads r.PathValue("task_id") and
// r.PathValue("path"), as set by a pattern like
// "GET /files/{task_id}/{path...}", and does not check the token: mount
// it behind httpguard.Guard.Authorize.
func New(svc *service.Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Handler{svc: svc, log: log, ctx: ctx, cancel: cancel}
}

// Close ends every open stream (their responses are cut short) and waits
// for their handlers to return; later requests are answered 503. Without
// it, an open stream waiting for data (a paused task) would hold the HTTP
// server's Shutdown until its timeout. Safe to call more than once, and
// fit for http.Server.RegisterOnShutdown.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.open.Wait()
}

// ServeHTTP serves one file, or a part of it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Set on every answer, errors included.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, api.CodeUnavailable, "the daemon is shutting down")
		return
	}
	h.open.Add(1)
	h.mu.Unlock()
	defer h.open.Done()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(h.ctx, cancel)()

	taskID, path := r.PathValue("task_id"), r.PathValue("path")
	f, err := h.svc.OpenFile(ctx, taskID, path)
	if err != nil {
		status, code := errorStatus(err)
		if status >= 500 {
			h.log.Error("open file for streaming", "task_id", taskID, "path", path, "err", err)
		}
		writeError(w, status, code, err.Error())
		return
	}
	defer f.Close()

	ctype := contentType(path)
	hd := w.Header()
	hd.Set("Content-Type", ctype) // set, so ServeContent never sniffs (a read that would wait)
	hd.Set("Accept-Ranges", "bytes")
	hd.Set("ETag", etag(f))
	hd.Set("Content-Disposition", contentDisposition(path))
	hd.Set("Cache-Control", "private")
	// No other site may embed the file (a no-cors <img>/<video> riding
	// the UI's cookie).
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if sandboxed(ctype) {
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	}
	rc := http.NewResponseController(w)
	// On Close, a write blocked on a client that stopped reading ends
	// too: the stream's context cannot reach it.
	defer context.AfterFunc(h.ctx, func() { rc.SetWriteDeadline(time.Now()) })()
	if !strings.Contains(r.Header.Get("Range"), ",") {
		// One range: the reader runs on this goroutine, and before it
		// waits for missing bytes it sends what it has (the headers at
		// least), so a player starts at once and sees progress. A
		// multi-range answer reads on ServeContent's own goroutine, where
		// flushing would race with this one's writes.
		f.SetOnWait(func() { rc.Flush() })
	}
	body := &recordingReader{ReadSeeker: f}
	start := time.Now()
	// No modification time: the ETag says it all (a torrent's content is
	// fixed by its info-hash).
	http.ServeContent(w, r, "", time.Time{}, body)
	switch err := body.err; {
	case err == nil:
	case errors.Is(err, context.Canceled) || errors.Is(err, service.ErrReaderClosed):
		h.log.Debug("stream ended by the client or shutdown", "task_id", f.TaskID, "file", f.Index, "bytes", body.n)
	case errors.Is(err, service.ErrTorrentClosed):
		h.log.Info("stream ended: the task was removed, moved or stopped", "task_id", f.TaskID, "file", f.Index, "bytes", body.n)
	default:
		h.log.Warn("stream cut short", "task_id", f.TaskID, "file", f.Index, "bytes", body.n, "after", time.Since(start).Round(time.Millisecond), "err", err)
	}
}

// recordingReader remembers a stream's byte count and its first error
// other than io.EOF, for the log.
type recordingReader struct {
	io.ReadSeeker
	n   int64
	err error
}

func (r *recordingReader) Read(b []byte) (int, error) {
	n, err := r.ReadSeeker.Read(b)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// etag is strong: a task's id is its info-hash, which fixes the content
// of each of its files.
func etag(f *service.FileStream) string {
	return `"` + f.TaskID + "-" + strconv.Itoa(f.Index) + "-" + strconv.FormatInt(f.Size, 10) + `"`
}

// errorStatus maps a service error to an HTTP status and an API code.
func errorStatus(err error) (int, api.Code) {
	switch {
	case errors.Is(err, service.ErrTaskNotFound), errors.Is(err, service.ErrInvalidParams):
		return http.StatusNotFound, api.CodeTaskNotFound
	case errors.Is(err, service.ErrFileNotFound):
		return http.StatusNotFound, api.CodeInvalidParams
	case errors.Is(err, service.ErrTaskState):
		return http.StatusConflict, api.CodeTaskState
	case errors.Is(err, service.ErrClosed), errors.Is(err, service.ErrTorrentClosed):
		return http.StatusServiceUnavailable, api.CodeUnavailable
	}
	return http.StatusInternalServerError, api.CodeInternal
}

// writeError answers with the API's refusal body, never cached.
func writeError(w http.ResponseWriter, status int, code api.Code, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	httpguard.WriteError(w, status, code, msg)
}

// contentDisposition is "inline" with the file's base name (RFC 6266,
// RFC 8187 encoding), and a plain-ASCII fallback name.
func contentDisposition(path string) string {
	name := path[strings.LastIndexByte(path, '/')+1:]
	var ascii, enc strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			ascii.WriteByte('_')
		} else {
			ascii.WriteRune(r)
		}
	}
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			fmt.Fprintf(&enc, "%%%02X", b)
		}
	}
	return `inline; filename="` + ascii.String() + `"; filename*=UTF-8''` + enc.String()
}

// isAttrChar reports whether b may appear unencoded in an RFC 8187 value.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}
