package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// GET /api/schema serves the committed AsyncAPI document without a token,
// with an ETag a client revalidates against; a foreign Host is refused as
// everywhere else (DNS rebinding).
func TestSchemaServed(t *testing.T) {
	want, err := os.ReadFile("../../docs/asyncapi.json")
	if err != nil {
		t.Fatal(err)
	}
	d := daemontest.Start(t, daemontest.Options{})
	url := "http://" + d.APIAddr() + "/api/schema"
	get := func(t *testing.T, host, etag string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != "" {
			req.Host = host
		}
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, body := get(t, "", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HTTP %d, Content-Type %q; want 200, application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(body, want) {
		t.Errorf("served %d bytes that differ from docs/asyncapi.json's %d", len(body), len(want))
	}
	var doc struct {
		AsyncAPI string `json:"asyncapi"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.AsyncAPI != "3.0.0" {
		t.Errorf("asyncapi %q, %v; want an AsyncAPI 3.0.0 document", doc.AsyncAPI, err)
	}
	etag := resp.Header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q", etag)
	}
	if resp, _ := get(t, "", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with its ETag: HTTP %d, want 304", resp.StatusCode)
	}
	port := d.APIAddr()[strings.LastIndex(d.APIAddr(), ":"):]
	if resp, body := get(t, "evil.example"+port, ""); resp.StatusCode != http.StatusForbidden || bytes.Contains(body, []byte("asyncapi")) {
		t.Errorf("foreign Host: HTTP %d; want 403 and no schema", resp.StatusCode)
	}
}
