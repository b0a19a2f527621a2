package daemon_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/stream"
)

// files is an HTTP client of a daemon's /files/ endpoint.
type files struct {
	base string // http://127.0.0.1:port
	hc   *http.Client
}

func newFiles(t testing.TB, d *daemontest.Daemon) *files {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &files{base: "http://" + d.APIAddr(), hc: &http.Client{Transport: tr}}
}

// fileURL is the URL of a task's file, its path as task.files lists it,
// each segment escaped.
func (f *files) fileURL(taskID, path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return f.base + "/files/" + taskID + "/" + strings.Join(segs, "/")
}

// do sends a request with the test token and the given header pairs, and
// returns the response with its body read.
func (f *files) do(t testing.TB, method, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp := f.start(t, context.Background(), method, u, hdr...)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return resp, body
}

// start sends a request (with the token unless hdr sets Authorization
// to "") and returns once the response headers arrive.
func (f *files) start(t testing.TB, ctx context.Context, method, u string, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// startBody reads a response's body on another goroutine.
func startBody(resp *http.Response) <-chan readDone {
	c := make(chan readDone, 1)
	go func() {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		c <- readDone{b, err}
	}()
	return c
}

type readDone struct {
	b   []byte
	err error
}

func waitBody(t *testing.T, c <-chan readDone, timeout time.Duration, what string) readDone {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(timeout):
		t.Fatalf("%s: body not done within %v", what, timeout)
		return readDone{}
	}
}

func sourceBytes(t testing.TB, tr *enginetest.Torrent, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.Root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileCompleted(t *testing.T, c *client.Client, taskID string, index int) int64 {
	t.Helper()
	fs, err := c.TaskFiles(ctxT(t, 5*time.Second), taskID)
	if err != nil {
		t.Fatal(err)
	}
	return fs[index].Completed
}

// Ranges of a file fetched while it downloads (a seeder capped at 1 MiB/s)
// are the source's bytes: from the start, the middle, the end, a suffix,
// open-ended and several at once; with the headers a <video> tag needs,
// the ETag's conditional requests, and 416 past the end.
func TestStreamRangesWhileDownloading(t *testing.T) {
	const size = 3_000_017
	tr := enginetest.Generate(t, enginetest.Content{Name: "clip.mp4", Size: size, PieceLength: 64 << 10, Seed: 91})
	src := sourceBytes(t, tr, "clip.mp4")
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	f := newFiles(t, d)
	u := f.fileURL(res.TaskID, "clip.mp4")

	resp, body := f.do(t, "HEAD", u)
	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength != size {
		t.Fatalf("HEAD: %d, %d body bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	etag := resp.Header.Get("ETag")
	for k, want := range map[string]string{
		"Content-Type":            "video/mp4",
		"Accept-Ranges":           "bytes",
		"X-Content-Type-Options":  "nosniff",
		"Content-Disposition":     `inline; filename="clip.mp4"; filename*=UTF-8''clip.mp4`,
		"Content-Security-Policy": "", // audio and video are not sandboxed (see stream.sandboxed)
		"Referrer-Policy":         "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("HEAD %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(etag, `"`) || !strings.Contains(etag, res.TaskID) {
		t.Errorf("ETag %q: want a strong one naming the task", etag)
	}

	for _, tc := range []struct {
		rng      string
		from, to int64 // expected bytes [from, to)
	}{
		{"bytes=0-65535", 0, 65536},
		{"bytes=1500000-1599999", 1_500_000, 1_600_000},
		{"bytes=2999000-3000016", 2_999_000, size},
		{"bytes=-4321", size - 4321, size},
		{"bytes=2900000-", 2_900_000, size},
		{"bytes=123-123", 123, 124},
		{"", 0, size},
	} {
		done := fileCompleted(t, c, res.TaskID, 0)
		resp, body := f.do(t, "GET", u, "Range", tc.rng)
		t.Logf("Range %q requested with %d of %d bytes verified", tc.rng, done, size)
		wantStatus, wantCR := http.StatusPartialContent, fmt.Sprintf("bytes %d-%d/%d", tc.from, tc.to-1, size)
		if tc.rng == "" {
			wantStatus, wantCR = http.StatusOK, ""
		}
		if resp.StatusCode != wantStatus || resp.Header.Get("Content-Range") != wantCR {
			t.Errorf("Range %q: HTTP %d, Content-Range %q; want %d, %q", tc.rng, resp.StatusCode, resp.Header.Get("Content-Range"), wantStatus, wantCR)
		}
		if !bytes.Equal(body, src[tc.from:tc.to]) {
			t.Errorf("Range %q: %d bytes differing from the source's %d", tc.rng, len(body), tc.to-tc.from)
		}
	}

	// Several ranges: multipart/byteranges.
	resp, body = f.do(t, "GET", u, "Range", "bytes=0-9,1000000-1000999,-7")
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || resp.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: HTTP %d, %s (%v)", resp.StatusCode, mt, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int64{{0, 10}, {1_000_000, 1_001_000}, {size - 7, size}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("multi-range part %v: %v", want, err)
		}
		got, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("multi-range part %v: %v", want, err)
		}
		if !bytes.Equal(got, src[want[0]:want[1]]) || part.Header.Get("Content-Type") != "video/mp4" {
			t.Errorf("multi-range part %v: %d bytes, type %q", want, len(got), part.Header.Get("Content-Type"))
		}
	}

	// Conditional requests on the ETag.
	if resp, body := f.do(t, "GET", u, "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: HTTP %d with %d bytes, want 304", resp.StatusCode, len(body))
	}
	if resp, body := f.do(t, "GET", u, "Range", "bytes=10-19", "If-Range", etag); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, src[10:20]) {
		t.Errorf("If-Range (same ETag): HTTP %d, want 206 with the range", resp.StatusCode)
	}
	if resp, body := f.do(t, "GET", u, "Range", "bytes=10-19", "If-Range", `"other"`); resp.StatusCode != http.StatusOK || len(body) != size {
		t.Errorf("If-Range (other ETag): HTTP %d with %d bytes, want the whole file", resp.StatusCode, len(body))
	}
	if resp, _ := f.do(t, "GET", u, "If-Match", `"other"`); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("If-Match (other ETag): HTTP %d, want 412", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", u, "Range", fmt.Sprintf("bytes=%d-", size+10)); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: HTTP %d, want 416", resp.StatusCode)
	}
	// The same ETag after the download ends (and from a HEAD and a GET).
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	if resp, _ := f.do(t, "GET", u, "Range", "bytes=0-0"); resp.Header.Get("ETag") != etag {
		t.Errorf("ETag changed: %q, was %q", resp.Header.Get("ETag"), etag)
	}
}

// A range past the verified data waits for it. The task downloads one
// file of two (ep2 skipped) and is paused: bytes of ep1 are served at
// once; a range of ep2 answers its headers (the handler reached the wait)
// and then nothing, since a paused task downloads nothing; on resume the
// range completes with the source's bytes — ep2 is skipped, but the
// stream's pieces are fetched anyway.
func TestStreamWaitsForData(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "show", Seed: 92, Files: []enginetest.File{
		{Path: "ep1.mkv", Size: 700_001}, {Path: "ep2.mkv", Size: 900_007},
	}})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Files: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	if err := c.PauseTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	f := newFiles(t, d)

	ep1 := sourceBytes(t, tr, "show/ep1.mkv")
	if resp, body := f.do(t, "GET", f.fileURL(res.TaskID, "show/ep1.mkv"), "Range", "bytes=300000-399999"); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, ep1[300_000:400_000]) {
		t.Fatalf("verified range of a paused task: HTTP %d, %d bytes", resp.StatusCode, len(body))
	}
	if ct := fileCompleted(t, c, res.TaskID, 1); ct >= 400_000 {
		t.Fatalf("skipped ep2 has %d bytes verified before the test", ct)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := f.start(t, ctx, "GET", f.fileURL(res.TaskID, "show/ep2.mkv"), "Range", "bytes=400000-499999")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != "video/x-matroska" {
		t.Fatalf("range of missing data: HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := startBody(resp)
	if ct := fileCompleted(t, c, res.TaskID, 1); ct >= 400_000 {
		t.Fatalf("ep2 has %d bytes verified while paused", ct)
	}
	select {
	case r := <-body:
		t.Fatalf("the range completed while its data cannot exist (paused): %d bytes, %v", len(r.b), r.err)
	default:
	}
	if err := c.ResumeTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	r := waitBody(t, body, 60*time.Second, "after resume")
	if r.err != nil || !bytes.Equal(r.b, sourceBytes(t, tr, "show/ep2.mkv")[400_000:500_000]) {
		t.Fatalf("range after resume: %d bytes, %v", len(r.b), r.err)
	}
	fs := taskFiles(t, c, res.TaskID)
	if fs[1].Priority != "skip" || fs[1].Completed < 100_000 {
		t.Errorf("ep2 after streaming: %+v (want still skip, with the streamed range verified)", fs[1])
	}
}

// A queued task is like a paused one: a range of missing data waits (the
// stream does not jump the download queue) and completes once the task
// gets a download slot.
func TestStreamQueuedTask(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	one := 1
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{MaxActiveDownloads: &one}); err != nil {
		t.Fatal(err)
	}
	// The slot's holder: no peer, so it downloads forever.
	addTorrent(t, c, enginetest.Generate(t, enginetest.Content{Name: "holder.bin", Size: 100_000, Seed: 98}))
	tr := enginetest.Generate(t, enginetest.Content{Name: "queued.ogv", Size: 600_011, Seed: 99})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	res := addTorrent(t, c, tr)
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	if task := stateOf(t, c, res.TaskID); task.State != api.StateQueued {
		t.Fatalf("task state %s, want queued", task.State)
	}
	f := newFiles(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := f.start(t, ctx, "GET", f.fileURL(res.TaskID, "queued.ogv"), "Range", "bytes=200000-299999")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != "video/ogg" {
		t.Fatalf("HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	body := startBody(resp)
	if task := stateOf(t, c, res.TaskID); task.State != api.StateQueued || task.Completed != 0 {
		t.Fatalf("task %s with %d bytes while its stream waits, want queued with none", task.State, task.Completed)
	}
	select {
	case r := <-body:
		t.Fatalf("the range of a queued task completed: %d bytes, %v", len(r.b), r.err)
	default:
	}
	two := 2
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{MaxActiveDownloads: &two}); err != nil {
		t.Fatal(err)
	}
	r := waitBody(t, body, 60*time.Second, "after the task got a slot")
	if r.err != nil || !bytes.Equal(r.b, sourceBytes(t, tr, "queued.ogv")[200_000:300_000]) {
		t.Fatalf("range after dequeue: %d bytes, %v", len(r.b), r.err)
	}
}

// An open stream waiting for data ends with an error, never hangs, when
// its task is removed or moved, or when the daemon shuts down; and when
// the client goes away the daemon notices (the task can be removed at
// once, and shutdown is clean).
func TestStreamEnds(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "ends.webm", Size: 500_003, Seed: 93})
	// waiting adds tr paused, without peers, and starts a range request
	// that must wait.
	waiting := func(t *testing.T, d *daemontest.Daemon, c *client.Client) (string, <-chan readDone, context.CancelFunc) {
		res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
			Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		f := newFiles(t, d)
		resp := f.start(t, ctx, "GET", f.fileURL(res.TaskID, "ends.webm"), "Range", "bytes=1000-")
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		return res.TaskID, startBody(resp), cancel
	}
	cut := func(t *testing.T, body <-chan readDone) {
		t.Helper()
		r := waitBody(t, body, 10*time.Second, "stream of a gone task")
		if r.err == nil {
			t.Errorf("stream ended without an error after %d bytes", len(r.b))
		}
	}
	t.Run("remove", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		id, body, _ := waiting(t, d, c)
		if err := c.RemoveTask(ctxT(t, 10*time.Second), id, true); err != nil {
			t.Fatal(err)
		}
		cut(t, body)
		if f := newFiles(t, d); func() bool {
			resp, _ := f.do(t, "GET", f.fileURL(id, "ends.webm"))
			return resp.StatusCode != http.StatusNotFound
		}() {
			t.Error("removed task's file: not 404")
		}
	})
	t.Run("move", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		id, body, _ := waiting(t, d, c)
		if _, err := c.MoveTask(ctxT(t, 10*time.Second), id, "elsewhere"); err != nil {
			t.Fatal(err)
		}
		cut(t, body)
		// The moved task serves its file again (headers: nothing is
		// downloaded, so only HEAD completes).
		f := newFiles(t, d)
		if resp, _ := f.do(t, "HEAD", f.fileURL(id, "ends.webm")); resp.StatusCode != http.StatusOK {
			t.Errorf("moved task's file: HTTP %d, want 200", resp.StatusCode)
		}
	})
	t.Run("client gone", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		id, body, cancel := waiting(t, d, c)
		cancel()
		waitBody(t, body, 10*time.Second, "cancelled request")
		if err := c.RemoveTask(ctxT(t, 10*time.Second), id, true); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("shutdown", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		_, body, _ := waiting(t, d, c)
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			d.Stop(t) // fails the test if the daemon's Close reports an error
		}()
		cut(t, body)
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Fatal("daemon did not stop")
		}
	})
}

// Refusals: 404 (JSON body) for an unknown task, an unknown path, a task
// without metadata, and every path that tries to leave the task; 401
// without the token, which may come as a header, ?token= or the cookie.
func TestStreamRefusals(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "site", Seed: 94, Files: []enginetest.File{
		{Path: "index.html", Size: 1000}, {Path: "doc.pdf", Size: 2000}, {Path: "sub/a b%.txt", Size: 10},
	}})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	// Data the daemon could serve by mistake: its own token file, a file
	// beside the task's folder.
	if err := os.WriteFile(filepath.Join(d.Dirs.Download, "secret.txt"), []byte("TOPSECRET-feed"), 0o600); err != nil {
		t.Fatal(err)
	}
	magnet := addMagnet(t, c, enginetest.Generate(t, enginetest.Content{Name: "nometa.bin", Size: 10, Seed: 95}).Magnet(nil))
	f := newFiles(t, d)
	id := res.TaskID

	html := f.fileURL(id, "site/index.html")
	resp, _ := f.do(t, "HEAD", html)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		resp.Header.Get("Content-Security-Policy") != stream.ContentSecurityPolicy || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("HTML file: HTTP %d, type %q, CSP %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("CSP %q does not start with sandbox", resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = f.do(t, "HEAD", f.fileURL(id, "site/doc.pdf"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("PDF: HTTP %d, type %q, CSP %q (want none)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = f.do(t, "HEAD", f.fileURL(id, "site/sub/a b%.txt"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Disposition") != `inline; filename="a b_.txt"; filename*=UTF-8''a%20b%25.txt` {
		t.Errorf("escaped path: HTTP %d, Content-Disposition %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}
	// The task id is matched like the API's (case, spaces).
	if resp, _ := f.do(t, "HEAD", f.fileURL(strings.ToUpper(id), "site/index.html")); resp.StatusCode != http.StatusOK {
		t.Errorf("upper-case task id: HTTP %d", resp.StatusCode)
	}

	// mine: answered by the stream handler (with the API's JSON body);
	// the others are cleaned by the HTTP mux first (redirected, then 404
	// from wherever the clean path leads).
	notFound := []struct {
		name, rawURL string
		mine         bool
	}{
		{"unknown task", f.fileURL(strings.Repeat("ab", 20), "site/index.html"), true},
		{"unknown path", f.fileURL(id, "site/missing.html"), true},
		{"directory", f.fileURL(id, "site/sub"), true},
		{"empty path", f.base + "/files/" + id + "/", true},
		{"no metadata", f.fileURL(magnet.TaskID, "nometa.bin"), true},
		{"without the torrent's name", f.fileURL(id, "index.html"), true},
		{"encoded slashes", f.base + "/files/" + id + "/site%2F..%2F..%2Fsecret.txt", true},
		{"backslashes", f.base + "/files/" + id + "/site%5C..%5C..%5Csecret.txt", true},
		{"NUL", f.base + "/files/" + id + "/site/index.html%00", true},
		{"not a task id", f.fileURL("..", "site/index.html"), false},
		{"dot-dot", f.base + "/files/" + id + "/site/../../secret.txt", false},
		{"dot-dot deep", f.base + "/files/" + id + "/site/../../../../../../etc/passwd", false},
		{"encoded dot-dot", f.base + "/files/" + id + "/site/%2e%2e/%2e%2e/secret.txt", false},
		{"absolute", f.base + "/files/" + id + "/%2Fetc%2Fpasswd", false},
		{"double slash", f.base + "/files/" + id + "//etc/passwd", false},
		{"dot segments", f.base + "/files/" + id + "/site/./index.html/..", false},
	}
	for _, tc := range notFound {
		resp, body := f.do(t, "GET", tc.rawURL)
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("TOPSECRET")) || bytes.Contains(body, []byte("root:")) {
			t.Errorf("%s (%s): HTTP %d %q, want 404", tc.name, tc.rawURL, resp.StatusCode, body)
			continue
		}
		var r api.Response
		isAPI := json.Unmarshal(body, &r) == nil && r.Error != 0 && r.Message != "" && string(r.Result) == "null"
		if tc.mine && !isAPI {
			t.Errorf("%s: body %q is not an API error", tc.name, body)
		}
		t.Logf("%s: %s → %s: %s", tc.name, tc.rawURL, resp.Request.URL, bytes.TrimSpace(body))
	}

	// The token: missing → 401; header, ?token= and the UI's session
	// cookie work; the old token cookie does not.
	if resp, body := f.do(t, "GET", html, "Authorization", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d %q, want 401", resp.StatusCode, body)
	}
	if resp, _ := f.do(t, "GET", html, "Authorization", "Bearer wrong-token-0000000000"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token: HTTP %d, want 401", resp.StatusCode)
	}
	if resp, _ := f.do(t, "HEAD", html+"?token="+daemontest.Token, "Authorization", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("?token=: HTTP %d, want 200", resp.StatusCode)
	}
	if resp, _ := f.do(t, "HEAD", html, "Authorization", "", "Cookie", newSession(t, d).String()); resp.StatusCode != http.StatusOK {
		t.Errorf("session cookie: HTTP %d, want 200", resp.StatusCode)
	}
	if resp, _ := f.do(t, "HEAD", html, "Authorization", "", "Cookie", "lodestone_token="+daemontest.Token); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old token cookie: HTTP %d, want 401", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", html); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: HTTP %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// BenchmarkStreamThroughput streams a fully downloaded 64 MiB file over
// loopback HTTP; b.SetBytes makes the MB/s column its throughput.
func BenchmarkStreamThroughput(b *testing.B) {
	const size = 64 << 20
	tr := enginetest.Generate(b, enginetest.Content{Name: "big.mkv", Size: size, PieceLength: 256 << 10, Seed: 96})
	seeder := enginetest.StartSeeder(b, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr})})
	if err != nil {
		b.Fatal(err)
	}
	for {
		task, err := c.GetTask(ctx, res.TaskID)
		if err != nil {
			b.Fatal(err)
		}
		if task.Size > 0 && task.Completed == task.Size {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := newFiles(b, d)
	u := f.fileURL(res.TaskID, "big.mkv")
	buf := make([]byte, 256<<10)
	b.SetBytes(size)
	for b.Loop() {
		resp := f.start(b, ctx, "GET", u)
		n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("streamed %d bytes: %v", n, err)
		}
	}
}

// BenchmarkStreamFirstByte measures the time from a range request at a
// position nothing was fetched for (a seek in a player) to its first
// byte: the piece is asked from a loopback seeder, verified and served.
// The file is skipped, so only streams download it, and the positions
// are further apart than the readahead. Run with -benchtime=Nx, N ≤ 12.
func BenchmarkStreamFirstByte(b *testing.B) {
	const size, spacing = 128 << 20, 10 << 20
	tr := enginetest.Generate(b, enginetest.Content{Name: "movie", Seed: 97, PieceLength: 256 << 10, Files: []enginetest.File{
		{Path: "cover.jpg", Size: 4096}, {Path: "movie.mp4", Size: size},
	}})
	seeder := enginetest.StartSeeder(b, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(b, daemontest.Options{})
	c := d.Client(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Files: []int{0}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr})}); err != nil {
		b.Fatal(err)
	}
	for {
		fs, err := c.TaskFiles(ctx, res.TaskID)
		if err != nil {
			b.Fatal(err)
		}
		if len(fs) == 2 && fs[0].Completed == fs[0].Size {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := newFiles(b, d)
	u := f.fileURL(res.TaskID, "movie/movie.mp4")
	const slots = size / spacing
	var times []time.Duration
	n := 0
	for b.Loop() {
		if n == slots {
			b.Fatalf("more than %d iterations: no fresh position left; use -benchtime=%dx", slots, slots)
		}
		off := int64(n)*spacing + 12345
		n++
		start := time.Now()
		resp := f.start(b, ctx, "GET", u, "Range", fmt.Sprintf("bytes=%d-%d", off, off+65535))
		var one [1]byte
		if _, err := io.ReadFull(resp.Body, one[:]); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median/first-byte")
	b.ReportMetric(float64(times[len(times)-1].Microseconds())/1000, "ms-max/first-byte")
	b.Logf("first bytes after %v", times)
}
