package cli_test

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// add of an http URL sends task.add type url; the daemon fetches the
// .torrent from a loopback web server.
func TestAddURL(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{Name: "web.bin", Size: 300_000, Seed: 30})
	mux := http.NewServeMux()
	mux.HandleFunc("/web.torrent", func(w http.ResponseWriter, r *http.Request) { w.Write(tr.MetaInfo) })
	web := httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(web.Close)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})

	r := runAt(t, d, "add", "--label", "web", web.URL+"/web.torrent").ok(t)
	if want := "added " + tr.InfoHash + " web.bin\n"; r.stdout != want {
		t.Errorf("add URL printed %q, want %q", r.stdout, want)
	}
	task, err := d.Client(t).GetTask(t.Context(), tr.InfoHash)
	if err != nil || task.Size != 300_000 || fmt.Sprint(task.Labels) != "[web]" {
		t.Errorf("task.get after add URL: %+v, %v", task, err)
	}
	// The scheme is matched case-insensitively; --json prints the result.
	out := runAt(t, d, "add", "--json", "HTTP"+strings.TrimPrefix(web.URL, "http")+"/web.torrent").ok(t).stdout
	if !strings.Contains(out, `"task_id":"`+tr.InfoHash+`"`) {
		t.Errorf("add --json URL printed %q", out)
	}
	runAt(t, d, "add", web.URL+"/missing.torrent").fails(t, cli.ExitFailure, "lodestone: add "+web.URL+"/missing.torrent: ", "(fetch_failed)\n")
}

// add --paused --files --download-dir go in the task.add call.
func TestAddOptions(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.MultiFile(31))
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash

	// A bad index is the daemon's to refuse, and nothing is added.
	runAt(t, d, "add", "--files", "0,5", torrentFile(t, tr)).fails(t, cli.ExitFailure, "file index 5 out of range", "(invalid_params)")
	runAt(t, d, "add", "--download-dir", "/", torrentFile(t, tr)).fails(t, cli.ExitFailure, "outside the download roots", "(invalid_params)")
	if out := runAt(t, d, "ls").ok(t).stdout; len(lines(out)) != 1 {
		t.Fatalf("a refused add left a task:\n%s", out)
	}

	r := runAt(t, d, "add", "--paused", "--files", "0", "--files", "2,4", "--download-dir", "sub", "--label", "new", torrentFile(t, tr)).ok(t)
	if want := "added " + id + " multi\n"; r.stdout != want {
		t.Errorf("add printed %q, want %q", r.stdout, want)
	}
	task := waitState(t, d, id, api.StatePaused)
	if want := filepath.Join(downloadDir(t, d), "sub"); !strings.HasSuffix(task.DownloadDir, "/sub") || task.DownloadDir != want {
		t.Errorf("download_dir %q, want %q", task.DownloadDir, want)
	}
	if fmt.Sprint(task.Labels) != "[new]" {
		t.Errorf("labels %v, want [new]", task.Labels)
	}
	runAt(t, d, "resume", id).ok(t)
	waitState(t, d, id, api.StateDownloading)
	if got, want := priorities(taskFiles(t, d, id)), "0=normal 1=skip 2=normal 3=skip 4=normal"; got != want {
		t.Errorf("priorities after add --files 0 --files 2,4: %s, want %s", got, want)
	}

	// Adding it again changes only the labels.
	runAt(t, d, "add", "--paused", "--download-dir", "other", "--label", "again", torrentFile(t, tr)).ok(t)
	task = waitState(t, d, id, api.StateDownloading)
	if fmt.Sprint(task.Labels) != "[again]" || !strings.HasSuffix(task.DownloadDir, "/sub") {
		t.Errorf("after adding again: labels %v, download_dir %s", task.Labels, task.DownloadDir)
	}
}

// add of a bare info-hash, 40 hex digits or 32 base32 characters, adds a
// magnet of it (as the web UI does): the task's id is that hash.
func TestAddInfoHash(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	hexHash := "0123456789abcdef0123456789abcdef01234567"
	r := runAt(t, d, "add", "--paused", strings.ToUpper(hexHash)).ok(t)
	if !strings.HasPrefix(r.stdout, "added "+hexHash+" ") {
		t.Errorf("add of a hex info-hash printed %q", r.stdout)
	}
	raw, err := hex.DecodeString("fedcba9876543210fedcba9876543210fedcba98")
	if err != nil {
		t.Fatal(err)
	}
	b32 := base32.StdEncoding.EncodeToString(raw)
	if len(b32) != 32 {
		t.Fatalf("base32 hash %q", b32)
	}
	r = runAt(t, d, "add", "--paused", b32).ok(t)
	if !strings.HasPrefix(r.stdout, "added fedcba9876543210fedcba9876543210fedcba98 ") {
		t.Errorf("add of a base32 info-hash %s printed %q", b32, r.stdout)
	}
	for _, id := range []string{hexHash, "fedcba9876543210fedcba9876543210fedcba98"} {
		waitState(t, d, id, api.StatePaused)
	}
}
