package daemon_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func TestAddByURL(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "web.bin", Size: 300_000, Seed: 120})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	mux := http.NewServeMux()
	mux.HandleFunc("/web.torrent", func(w http.ResponseWriter, r *http.Request) { w.Write(tr.MetaInfo) })
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>not a torrent</html>")) })
	web := httptest.NewServer(mux)
	defer web.Close()

	// By default a loopback URL is refused (SSRF).
	d := daemontest.Start(t, daemontest.Options{})
	var ae *api.Error
	_, err := d.Client(t).AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: web.URL + "/web.torrent"})
	if !asCode(err, &ae, api.CodeFetchFailed) {
		t.Errorf("loopback URL with the default config: %v, want fetch_failed", err)
	}

	d2 := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	c := d2.Client(t)
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: web.URL + "/web.torrent"})
	if err != nil {
		t.Fatal(err)
	}
	if res.TaskID != tr.InfoHash || res.Size != 300_000 {
		t.Fatalf("task.add url = %+v", res)
	}
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d2.Dirs.Download)

	for path, code := range map[string]api.Code{"/text": api.CodeBadTorrent, "/missing": api.CodeFetchFailed} {
		if _, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: web.URL + path}); !asCode(err, &ae, code) {
			t.Errorf("%s: %v, want %s", path, err, code)
		}
	}
	if _, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeURL, Data: "ftp://127.0.0.1/x"}); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("ftp URL: %v", err)
	}
}
