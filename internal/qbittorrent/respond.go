package qbittorrent

import (
	"encoding/json"
	"io"
	"net/http"
)

// writeJSON answers 200 with v as JSON, as qBittorrent does.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeText answers 200 with a plain text body ("Ok.", a version).
func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	io.WriteString(w, s)
}

// writeStatus answers status with a plain text body, qBittorrent's form
// of an error ("Forbidden", "Not Found", or what went wrong).
func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, msg)
}
