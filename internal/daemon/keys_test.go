package daemon_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// createKey creates a key of scope with the token's client c.
func createKey(t *testing.T, c *client.Client, name string, scope api.Scope) api.KeyCreateResult {
	t.Helper()
	k, err := c.CreateKey(ctxT(t, 10*time.Second), name, scope)
	if err != nil {
		t.Fatalf("key.create %s: %v", scope, err)
	}
	if !strings.HasPrefix(k.Key, "lsk_") || k.KeyID == "" || k.Scope != scope || k.Name != name || k.CreatedAt == 0 {
		t.Fatalf("key.create %s: %+v", scope, k)
	}
	return k
}

// dialKey connects to d's WebSocket API with key as the credential; its
// frames are validated against the API schema, as daemontest.Dial's are.
func dialKey(t *testing.T, d *daemontest.Daemon, key string) (*client.Client, error) {
	t.Helper()
	c, err := client.DialOptions(ctxT(t, 10*time.Second), d.URL, key, client.Options{FrameHook: daemontest.ValidateFrames(t)})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// httpGet sends a GET to d's path with header set, returning the status
// and body.
func httpGet(t *testing.T, d *daemontest.Daemon, path string, header http.Header) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 30*time.Second), http.MethodGet, "http://"+d.APIAddr()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

// wsCall calls method with params on c and returns the error code (0 for
// success) and message.
func wsCall(t *testing.T, c *client.Client, method string, params any) (api.Code, string) {
	t.Helper()
	err := c.Call(ctxT(t, 30*time.Second), method, params, nil)
	if err == nil {
		return api.CodeOK, ""
	}
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: %v", method, err)
	}
	return ae.Code, ae.Message
}

// newQBAs is newQB logged in with pass (the token or a key).
func newQBAs(t *testing.T, d *daemontest.Daemon, pass string) *qbClient {
	t.Helper()
	c := newQB(t, d)
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {pass}}, nil); code != http.StatusOK || body != "Ok." {
		t.Fatalf("login: %d %q", code, body)
	}
	return c
}

// TestKeyScopes drives every scope against a representative method of
// every class (read, control, admin) on every surface a key works on: the
// WebSocket API, /files, /metrics, Transmission's RPC and qBittorrent's
// API, with a task downloaded from a loopback seeder. What the scope
// covers succeeds; the rest is refused in each protocol's own way (403
// naming the method and the scope it needs; Transmission's "forbidden: …"
// result; qBittorrent's 403 "Forbidden"), and the refused change did not
// happen.
func TestKeyScopes(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "clip.bin", Size: 70_001, Seed: 171})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	admin := d.Client(t)
	task := addMagnet(t, admin, tr.Magnet([]string{seeder.Addr}))
	waitTask(t, admin, task.TaskID, "the download", time.Minute, func(tk api.Task) bool {
		return tk.Size > 0 && tk.Completed == tk.Size
	})
	info, err := admin.ServerInfo(ctxT(t, 10*time.Second))
	if err != nil || info.Scope != api.ScopeAdmin {
		t.Fatalf("the token's server.info: %+v, %v; want scope admin", info, err)
	}

	rank := map[api.Scope]int{api.ScopeRead: 1, api.ScopeControl: 2, api.ScopeAdmin: 3}
	for _, scope := range api.Scopes {
		t.Run(string(scope), func(t *testing.T) {
			k := createKey(t, admin, "test-"+string(scope), scope)
			allowed := func(need api.Scope) bool { return rank[scope] >= rank[need] }

			// WebSocket.
			c, err := dialKey(t, d, k.Key)
			if err != nil {
				t.Fatalf("dial with the key: %v", err)
			}
			info, err := c.ServerInfo(ctxT(t, 10*time.Second))
			if err != nil || info.Scope != scope {
				t.Fatalf("server.info: %+v, %v; want scope %s", info, err, scope)
			}
			for _, m := range []struct {
				method string
				params any
				need   api.Scope
			}{
				{api.MethodTaskGet, api.TaskGetParams{TaskID: task.TaskID}, api.ScopeRead},
				{api.MethodEventsSubscribe, api.EventsSubscribeParams{Names: api.DefaultEvents}, api.ScopeRead},
				{api.MethodTaskExport, api.TaskIDParams{TaskID: task.TaskID}, api.ScopeRead},
				{api.MethodTaskPause, api.TaskIDParams{TaskID: task.TaskID}, api.ScopeControl},
				{api.MethodTaskResume, api.TaskIDParams{TaskID: task.TaskID}, api.ScopeControl},
				{api.MethodSessionSet, api.SessionSetParams{}, api.ScopeAdmin},
				{api.MethodKeyList, struct{}{}, api.ScopeAdmin},
				{api.MethodWatchList, struct{}{}, api.ScopeAdmin},
				{api.MethodWebhookList, struct{}{}, api.ScopeAdmin},
				{api.MethodRSSList, struct{}{}, api.ScopeAdmin},
			} {
				code, msg := wsCall(t, c, m.method, m.params)
				switch {
				case allowed(m.need) && code != api.CodeOK:
					t.Errorf("%s with a %s key: %d %s, want success", m.method, scope, code, msg)
				case !allowed(m.need) && (code != api.CodeForbidden || !strings.Contains(msg, m.method) || !strings.Contains(msg, string(m.need))):
					t.Errorf("%s with a %s key: %d %q, want 403 naming the method and scope %s", m.method, scope, code, msg, m.need)
				}
			}
			// The connection goes on after a refusal, and an unknown
			// method is still 102.
			if code, _ := wsCall(t, c, "no.such", struct{}{}); code != api.CodeUnknownMethod {
				t.Errorf("an unknown method: %d, want 102", code)
			}

			// /files and /metrics: every scope reads.
			status, body := httpGet(t, d, "/files/"+task.TaskID+"/clip.bin", bearer(k.Key))
			if status != http.StatusOK || len(body) != 70_001 {
				t.Errorf("/files: %d with %d bytes, want 200 and 70001", status, len(body))
			}
			if status, body := httpGet(t, d, "/files/"+task.TaskID+"/clip.bin?token="+url.QueryEscape(k.Key), nil); status != http.StatusOK || len(body) != 70_001 {
				t.Errorf("/files?token=key: %d with %d bytes, want 200", status, len(body))
			}
			if status, body := httpGet(t, d, "/metrics", bearer(k.Key)); status != http.StatusOK || !bytes.Contains(body, []byte("lodestone_")) {
				t.Errorf("/metrics: %d %.80q, want 200 and metrics", status, body)
			}

			// Transmission's RPC: the key is the Basic password.
			rpc := newTRPC(t, d)
			rpc.pass = k.Key
			for _, m := range []struct {
				method string
				args   any
				need   api.Scope
			}{
				{"torrent-get", map[string]any{"fields": []string{"id", "name"}}, api.ScopeRead},
				{"session-stats", nil, api.ScopeRead},
				{"torrent-stop", map[string]any{"ids": []string{task.TaskID}}, api.ScopeControl},
				{"torrent-start", map[string]any{"ids": []string{task.TaskID}}, api.ScopeControl},
				{"session-set", map[string]any{"speed-limit-down-enabled": false}, api.ScopeAdmin},
			} {
				r := rpc.call(m.method, m.args)
				want := "success"
				if !allowed(m.need) {
					want = "forbidden: " + m.method + " needs scope " + string(m.need)
				}
				if r.Result != want {
					t.Errorf("transmission %s with a %s key: %q, want %q", m.method, scope, r.Result, want)
				}
			}
			// JSON-RPC 2.0 answers an error object.
			raw := rpc.post(`{"jsonrpc":"2.0","method":"session_set","params":{},"id":1}`, nil)
			var jr struct {
				Error *struct {
					Code int `json:"code"`
					Data struct {
						ErrorString string `json:"error_string"`
					} `json:"data"`
				} `json:"error"`
			}
			if err := json.NewDecoder(raw.Body).Decode(&jr); err != nil {
				t.Fatal(err)
			}
			if allowed(api.ScopeAdmin) != (jr.Error == nil) {
				t.Errorf("JSON-RPC session_set with a %s key: error %+v", scope, jr.Error)
			}

			// qBittorrent's API: the key is the login password, and a
			// bearer credential.
			qb := newQBAs(t, d, k.Key)
			if code, _ := qb.do("torrents/info", nil, nil); code != http.StatusOK {
				t.Errorf("qbittorrent torrents/info with a %s key: %d, want 200", scope, code)
			}
			for _, m := range []struct {
				endpoint string
				form     url.Values
				need     api.Scope
			}{
				{"torrents/stop", url.Values{"hashes": {task.TaskID}}, api.ScopeControl},
				{"torrents/start", url.Values{"hashes": {task.TaskID}}, api.ScopeControl},
				{"torrents/createCategory", url.Values{"category": {"cat-" + string(scope)}}, api.ScopeAdmin},
			} {
				code, body := qb.do(m.endpoint, m.form, nil)
				if allowed(m.need) && code != http.StatusOK || !allowed(m.need) && (code != http.StatusForbidden || body != "Forbidden") {
					t.Errorf("qbittorrent %s with a %s key: %d %q", m.endpoint, scope, code, body)
				}
			}
			cats, err := admin.Categories(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			made := false
			for _, cat := range cats {
				made = made || cat.Name == "cat-"+string(scope)
			}
			if made != allowed(api.ScopeAdmin) {
				t.Errorf("a %s key's createCategory made the category: %v", scope, made)
			}
			bq := newQB(t, d)
			code, _ := bq.do("torrents/createCategory", url.Values{"category": {"bearer-" + string(scope)}}, func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+k.Key)
			})
			if want := map[bool]int{true: http.StatusOK, false: http.StatusForbidden}[allowed(api.ScopeAdmin)]; code != want {
				t.Errorf("qbittorrent createCategory with a %s bearer key: %d, want %d", scope, code, want)
			}
		})
	}
}

// TestKeyShownOnce checks that a key's secret exists only in key.create's
// answer: key.list never shows it, and the store file holds its SHA-256
// and not one copy of it. The key still works after a restart (only its
// hash was needed), and its last use survives the restart.
func TestKeyShownOnce(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	admin := d.Client(t)
	k := createKey(t, admin, "sonarr", api.ScopeControl)
	keys, err := admin.ListKeys(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != k.KeyID || keys[0].Name != "sonarr" || keys[0].Scope != api.ScopeControl ||
		keys[0].CreatedAt != k.CreatedAt || keys[0].LastUsedAt != 0 {
		t.Fatalf("key.list: %+v, want the one key, never used", keys)
	}
	var raw json.RawMessage
	if err := admin.Call(ctxT(t, 10*time.Second), api.MethodKeyList, struct{}{}, &raw); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(k.Key, "lsk_")
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte("lsk_")) {
		t.Fatalf("key.list shows the key: %s", raw)
	}

	// A use, then a restart: the stop flushes the last use.
	c, err := dialKey(t, d, k.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTasks(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	keys, err = admin.ListKeys(ctxT(t, 10*time.Second))
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt < k.CreatedAt {
		t.Fatalf("key.list after a use: %+v, %v; want last_used_at set", keys, err)
	}
	used := keys[0].LastUsedAt
	c.Close()
	admin.Close()
	d.Stop(t)

	file, err := os.ReadFile(filepath.Join(dirs.Data, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range [][]byte{[]byte(k.Key), []byte(secret)} {
		if bytes.Contains(file, leak) {
			t.Fatalf("the store file holds the key %q", leak)
		}
	}
	// What it holds instead: the key's SHA-256 (JSON encodes it base64).
	sum := sha256.Sum256([]byte(k.Key))
	if !bytes.Contains(file, []byte(base64.StdEncoding.EncodeToString(sum[:]))) {
		t.Fatal("the store file does not hold the key's SHA-256")
	}

	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c, err = dialKey(t, d, k.Key)
	if err != nil {
		t.Fatalf("the key after a restart: %v", err)
	}
	keys, err = c.ListKeys(ctxT(t, 10*time.Second))
	if code := (*api.Error)(nil); !asCode(err, &code, api.CodeForbidden) {
		t.Errorf("key.list with a control key: %v, want 403", err)
	}
	keys, err = d.Client(t).ListKeys(ctxT(t, 10*time.Second))
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt < used {
		t.Fatalf("key.list after a restart: %+v, %v; want last_used_at at least %d", keys, err, used)
	}
}

// TestKeyRevoke revokes keys in use: an open WebSocket connection's next
// request is refused with 403 "key revoked" and the connection is then
// closed, and it gets no event published after the revocation; a new one
// is refused at the handshake (401, as any wrong
// credential); a qBittorrent SID session and a web UI session opened with
// the key end; Transmission's RPC refuses the key. The token, and another
// key, are untouched.
func TestKeyRevoke(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	admin := d.Client(t)
	k := createKey(t, admin, "doomed", api.ScopeRead)
	other := createKey(t, admin, "kept", api.ScopeRead)

	c, err := dialKey(t, d, k.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListTasks(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	kept, err := dialKey(t, d, other.Key)
	if err != nil {
		t.Fatal(err)
	}
	qb := newQBAs(t, d, k.Key)
	if code, _ := qb.do("torrents/info", nil, nil); code != http.StatusOK {
		t.Fatalf("torrents/info in the key's SID session: %d", code)
	}
	// The web UI's session, traded for the key.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	req, _ := http.NewRequestWithContext(ctxT(t, 30*time.Second), http.MethodPost, "http://"+d.APIAddr()+"/session", nil)
	req.Header.Set("Authorization", "Bearer "+k.Key)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /session with the key: %v %v", resp, err)
	}
	resp.Body.Close()
	metricsStatus := func() int {
		resp, err := hc.Get("http://" + d.APIAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := metricsStatus(); s != http.StatusOK {
		t.Fatalf("/metrics with the key's session cookie: %d", s)
	}

	if err := admin.RevokeKey(ctxT(t, 10*time.Second), k.KeyID); err != nil {
		t.Fatal(err)
	}
	// An event after the revocation reaches the live key's connection,
	// never the revoked one's, even before its next request.
	tr := enginetest.Generate(t, enginetest.Content{Name: "after.bin", Size: 20_000, Seed: 172})
	added, err := admin.AddTask(ctxT(t, 30*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, kept, api.EventTaskAdded, 10*time.Second, forTask(added.TaskID))
	_, err = c.ListTasks(ctxT(t, 10*time.Second))
	if code := (*api.Error)(nil); !asCode(err, &code, api.CodeForbidden) || code.Message != "key revoked" {
		t.Fatalf("the next request after revocation: %v, want 403 key revoked", err)
	}
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked key's connection was not closed")
	}
	for ev := range c.Events() {
		if ev.Name == api.EventTaskAdded && forTask(added.TaskID)(ev.Data) {
			t.Error("the revoked key's connection got an event published after the revocation")
		}
	}
	if _, err := dialKey(t, d, k.Key); !isHandshakeStatus(err, http.StatusUnauthorized) {
		t.Errorf("dial with the revoked key: %v, want 401", err)
	}
	if code, body := qb.do("torrents/info", nil, nil); code != http.StatusForbidden || body != "Forbidden" {
		t.Errorf("the revoked key's SID session: %d %q, want 403 Forbidden", code, body)
	}
	if s := metricsStatus(); s != http.StatusUnauthorized {
		t.Errorf("/metrics with the revoked key's session cookie: %d, want 401", s)
	}
	rpc := newTRPC(t, d)
	rpc.pass = k.Key
	if resp := rpc.post(`{"method":"session-get"}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("transmission with the revoked key: %d, want 401", resp.StatusCode)
	}
	// Revoked twice: it no longer exists.
	if err := admin.RevokeKey(ctxT(t, 10*time.Second), k.KeyID); !asCode(err, new(*api.Error), api.CodeNoSuchKey) {
		t.Errorf("revoking it again: %v, want 213", err)
	}
	if _, err := kept.ListTasks(ctxT(t, 10*time.Second)); err != nil {
		t.Errorf("another key's connection: %v", err)
	}
	if _, err := admin.ListTasks(ctxT(t, 10*time.Second)); err != nil {
		t.Errorf("the token's connection: %v", err)
	}
	keys, err := admin.ListKeys(ctxT(t, 10*time.Second))
	if err != nil || len(keys) != 1 || keys[0].KeyID != other.KeyID {
		t.Errorf("key.list after revocation: %+v, %v", keys, err)
	}
}

// isHandshakeStatus reports whether err is a refused handshake with
// status.
func isHandshakeStatus(err error, status int) bool {
	var he *client.HandshakeError
	return errors.As(err, &he) && he.StatusCode == status
}

// TestKeyErrors checks key.create's and key.revoke's refusals: a bad or
// missing scope is 103, an unknown key_id 213.
func TestKeyErrors(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	for _, p := range []any{
		api.KeyCreateParams{Name: "x", Scope: "root"},
		api.KeyCreateParams{Name: "x"},
		map[string]any{"name": "x", "scope": 3},
		api.KeyCreateParams{Name: strings.Repeat("n", 201), Scope: api.ScopeRead},
	} {
		if code, msg := wsCall(t, c, api.MethodKeyCreate, p); code != api.CodeInvalidParams {
			t.Errorf("key.create %+v: %d %q, want 103", p, code, msg)
		}
	}
	if code, msg := wsCall(t, c, api.MethodKeyRevoke, api.KeyRevokeParams{KeyID: "0123456789abcdef"}); code != api.CodeNoSuchKey || !strings.Contains(msg, "0123456789abcdef") {
		t.Errorf("key.revoke of an unknown key: %d %q, want 213 naming it", code, msg)
	}
	keys, err := c.ListKeys(ctxT(t, 10*time.Second))
	if err != nil || len(keys) != 0 {
		t.Errorf("key.list: %+v, %v; want none made", keys, err)
	}
}

// TestRevokedKeyBackoff checks that a revoked key is a wrong credential:
// after the free failures, its address waits (429), while the token from
// the same address still gets in.
func TestRevokedKeyBackoff(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{AuthBackoff: time.Minute})
	admin := d.Client(t)
	k := createKey(t, admin, "gone", api.ScopeAdmin)
	if status, _ := httpGet(t, d, "/metrics", bearer(k.Key)); status != http.StatusOK {
		t.Fatalf("/metrics with the live key: %d", status)
	}
	if err := admin.RevokeKey(ctxT(t, 10*time.Second), k.KeyID); err != nil {
		t.Fatal(err)
	}
	for i := range httpguard.DefaultAuthFailures + 1 {
		if status, _ := httpGet(t, d, "/metrics", bearer(k.Key)); status != http.StatusUnauthorized {
			t.Fatalf("revoked key, attempt %d: %d, want 401", i+1, status)
		}
	}
	if status, _ := httpGet(t, d, "/metrics", bearer(k.Key)); status != http.StatusTooManyRequests {
		t.Fatalf("revoked key after %d failures: %d, want 429", httpguard.DefaultAuthFailures+1, status)
	}
	if status, _ := httpGet(t, d, "/metrics", bearer(daemontest.Token)); status != http.StatusOK {
		t.Fatalf("the token from the address in backoff: %d, want 200", status)
	}
}
