package cli_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// webhook add/ls/deliveries/rm against a real daemon and a loopback
// receiver: the secret add prints is the one that signs the delivery of
// the task added, deliveries and ls show it delivered, and bad input is
// refused.
func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	type delivery struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var got []delivery
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, delivery{r.Header.Clone(), b})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	hook := srv.URL + "/hook"

	out := runAt(t, d, "webhook", "add", "--event", "task.added,task.removed", hook).ok(t).stdout
	l := lines(out)
	head := strings.Fields(l[0])
	if len(l) != 2 || len(head) != 3 || head[0] != "webhook" || head[2] != hook || !strings.HasPrefix(l[1], "secret: ") {
		t.Fatalf("webhook add printed %q, want \"webhook <id> %s\" and \"secret: <secret>\"", out, hook)
	}
	id, secret := head[1], strings.TrimPrefix(l[1], "secret: ")

	tr := enginetest.Generate(t, enginetest.Content{Name: "hook.bin", Size: 30_000, Seed: 71})
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)
	waitUntil(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	mu.Lock()
	first := got[0]
	mu.Unlock()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(first.header.Get("X-Lodestone-Timestamp") + "." + string(first.body)))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); first.header.Get("X-Lodestone-Signature") != want {
		t.Errorf("the delivery is not signed with the secret add printed: %q", first.header.Get("X-Lodestone-Signature"))
	}
	if first.header.Get("X-Lodestone-Event") != "task.added" || !strings.Contains(string(first.body), tr.InfoHash) {
		t.Errorf("delivery %s %s, want task.added of the task", first.header.Get("X-Lodestone-Event"), first.body)
	}

	// The header, then the delivery, delivered in one attempt with 200.
	waitUntil(t, func() bool {
		got := lines(runAt(t, d, "webhook", "deliveries", id).ok(t).stdout)
		if len(got) != 2 {
			return false
		}
		f := strings.Fields(got[1])
		return len(f) >= 5 && f[0] == first.header.Get("X-Lodestone-Delivery") && strings.Join(f[1:5], " ") == "task.added delivered 1 200"
	})
	out = runAt(t, d, "webhook", "ls").ok(t).stdout
	if got := lines(out); len(got) != 2 || !strings.HasPrefix(strings.Join(strings.Fields(got[1]), " "), id+" "+hook+" task.added,task.removed 0 200 ") {
		t.Errorf("webhook ls:\n%s", out)
	}
	if out := runAt(t, d, "webhook", "--json", "ls").ok(t).stdout; strings.Contains(out, secret) {
		t.Errorf("webhook ls --json shows the secret: %s", out)
	}

	runAt(t, d, "webhook", "add", "--event", "no.such.event", hook).fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "webhook", "add", "--event", "task.added", "file:///etc/passwd").fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "webhook", "add", hook).fails(t, cli.ExitUsage, "add needs --event")
	runAt(t, d, "webhook", "ls", "--secret", "x").fails(t, cli.ExitUsage, "--secret goes with add")
	if out := runAt(t, d, "webhook", "rm", id).ok(t).stdout; out != "removed webhook "+id+"\n" {
		t.Errorf("webhook rm printed %q", out)
	}
	runAt(t, d, "webhook", "rm", id).fails(t, cli.ExitFailure, "(no_such_webhook)")
	runAt(t, d, "webhook", "deliveries", id).fails(t, cli.ExitFailure, "(no_such_webhook)")
}
