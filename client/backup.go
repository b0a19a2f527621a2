package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

// BackupOptions are Backup's choices.
type BackupOptions struct {
	// WithToken includes the daemon's API token in the backup.
	WithToken bool
	// HTTPClient makes the request; nil is http.DefaultClient.
	HTTPClient *http.Client
}

// Backup asks the daemon at wsURL (its WebSocket URL, as given to Dial)
// for a backup of its data dir (api.BackupPath), presenting token, which
// must have admin scope. It returns the backup's stream (a tar; see
// docs/OPERATIONS.md), which the caller must close and should check
// before trusting: a transfer cut short ends in an error or a backup
// without its manifest. A refusal is a *HandshakeError with the HTTP
// status (401, 403).
func Backup(ctx context.Context, wsURL, token string, opts BackupOptions) (io.ReadCloser, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, api.Path) + api.BackupPath
	q := url.Values{}
	if opts.WithToken {
		q.Set("with_token", "true")
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &HandshakeError{StatusCode: resp.StatusCode, Err: fmt.Errorf("backup: %s", strings.TrimSpace(string(msg)))}
	}
	return resp.Body, nil
}
