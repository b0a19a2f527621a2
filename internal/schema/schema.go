// Package schema serves the machine-readable schema of the WebSocket API:
// the AsyncAPI 3.0 document generated from the api package (see package
// gen; `go generate ./api` writes it here and to docs/asyncapi.json),
// embedded in the binary and served at GET /api/schema.
package schema

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

// Path is the HTTP path the document is served at.
const Path = "/api/schema"

//go:embed asyncapi.json
var document []byte

// JSON returns the AsyncAPI document. The caller must not change it.
func JSON() []byte { return document }

// Handler serves the document: JSON, with an ETag (its hash), so that a
// client revalidates it cheaply and sees a new one after an upgrade. It
// needs no token: the schema is public, the same for every daemon of a
// version.
func Handler() http.Handler {
	sum := sha256.Sum256(document)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		// ServeContent answers If-None-Match with 304 and HEAD and
		// ranges as a file server would.
		http.ServeContent(w, r, "asyncapi.json", time.Time{}, bytes.NewReader(document))
	})
}
