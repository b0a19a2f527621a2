package cli_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// testFeed is an RSS 2.0 document whose items link magnets of made-up
// info-hashes, one per title.
func testFeed(titles ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>CLI feed</title>`)
	for i, title := range titles {
		sum := sha1.Sum([]byte(title))
		fmt.Fprintf(&b, "<item><title>%s</title><link>magnet:?xt=urn:btih:%s</link><guid>cli-%d</guid></item>", title, hex.EncodeToString(sum[:]), i)
	}
	b.WriteString(`</channel></rss>`)
	return b.String()
}

// rss add/ls/refresh/items/rm and rss rule set/ls/preview/rm against a
// real daemon reading a feed from a loopback server: a rule with
// --dedupe-episodes adds one of two releases of an episode, preview shows
// which, an unsaved rule previews too, and bad input is refused.
func TestRSSCommands(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml")
		fmt.Fprint(w, testFeed("Show S01E01 720p", "Show S01E01 1080p", "Other thing"))
	}))
	t.Cleanup(srv.Close)
	d := daemontest.Start(t, daemontest.Options{AllowPrivateURLs: true})
	feedURL := srv.URL + "/feed.xml"

	// The rule first, for every feed, so the first fetch applies it.
	if out := runAt(t, d, "rss", "rule", "set", "shows", "--include", `^show\b`, "--dedupe-episodes", "--paused").ok(t).stdout; out != "rule shows\n" {
		t.Errorf("rss rule set printed %q", out)
	}
	out := runAt(t, d, "rss", "add", "--interval", "10m", feedURL).ok(t).stdout
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "feed" || f[2] != feedURL {
		t.Fatalf("rss add printed %q, want \"feed <id> %s\"", out, feedURL)
	}
	id := f[1]
	if out := runAt(t, d, "rss", "refresh", id).ok(t).stdout; out != "refreshed feed "+id+": 3 items\n" {
		t.Errorf("rss refresh printed %q", out)
	}
	c := d.Client(t)
	waitUntil(t, func() bool {
		tasks, err := c.ListTasks(t.Context())
		return err == nil && len(tasks) == 1
	})

	out = runAt(t, d, "rss", "ls").ok(t).stdout
	if got := lines(out); len(got) != 2 || !strings.HasPrefix(got[0], "ID") || !strings.HasPrefix(got[1], id+"  CLI feed  10m0s  3 ") ||
		!strings.Contains(got[1], feedURL) {
		t.Errorf("rss ls:\n%s", out)
	}
	out = runAt(t, d, "rss", "items", id).ok(t).stdout
	sum := sha1.Sum([]byte("Show S01E01 720p"))
	if got := lines(out); len(got) != 4 || strings.Join(strings.Fields(got[1]), " ") != "- S01E01 Show S01E01 720p magnet:?xt=urn:btih:"+hex.EncodeToString(sum[:]) ||
		!strings.Contains(got[3], "Other thing") {
		t.Errorf("rss items:\n%s", out)
	}

	// The saved rule: both releases match, one was added.
	out = runAt(t, d, "rss", "rule", "preview", "shows").ok(t).stdout
	if got := lines(out); len(got) != 3 || !strings.HasPrefix(got[0], "ADDED") || !strings.Contains(out, "\nyes ") ||
		!strings.Contains(out, "Show S01E01 720p") || !strings.Contains(out, "Show S01E01 1080p") {
		t.Errorf("rss rule preview shows:\n%s", out)
	}
	// A rule not saved, from the flags.
	out = runAt(t, d, "rss", "rule", "preview", "--include", "other", "--feed", id).ok(t).stdout
	if got := lines(out); len(got) != 2 || strings.Join(strings.Fields(got[1]), " ") != "- "+id+" - Other thing" {
		t.Errorf("rss rule preview --include other:\n%s", out)
	}

	runAt(t, d, "rss", "rule", "set", "shows", "--include", "show", "--feed", id, "--disabled").ok(t)
	out = runAt(t, d, "rss", "rule", "ls").ok(t).stdout
	if got := lines(out); len(got) != 2 || strings.Join(strings.Fields(got[1]), " ") != "shows "+id+" show - - disabled" {
		t.Errorf("rss rule ls:\n%s", out)
	}
	if out := runAt(t, d, "rss", "--json", "rule", "ls").ok(t).stdout; !strings.Contains(out, `"enabled":false`) {
		t.Errorf("rss rule ls --json: %s", out)
	}

	runAt(t, d, "rss", "rule", "set", "bad", "--include", "(").fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "rss", "rule", "set", "bad", "--include", "x", "--feed", "nofeed").fails(t, cli.ExitFailure, "(no_such_feed)")
	runAt(t, d, "rss", "add", "ftp://127.0.0.1/feed").fails(t, cli.ExitFailure, "(invalid_params)")
	if out := runAt(t, d, "rss", "rule", "rm", "shows").ok(t).stdout; out != "removed rule shows\n" {
		t.Errorf("rss rule rm printed %q", out)
	}
	runAt(t, d, "rss", "rule", "rm", "shows").fails(t, cli.ExitFailure, "(no_such_rule)")
	if out := runAt(t, d, "rss", "rm", id).ok(t).stdout; out != "removed feed "+id+"\n" {
		t.Errorf("rss rm printed %q", out)
	}
	runAt(t, d, "rss", "refresh", id).fails(t, cli.ExitFailure, "(no_such_feed)")

	runAt(t, d, "rss", "rule").fails(t, cli.ExitUsage, "no rule action given")
	runAt(t, d, "rss", "ls", "--include", "x").fails(t, cli.ExitUsage, "--include goes with rule set or rule preview")
	runAt(t, d, "rss", "rule", "set", "x").fails(t, cli.ExitUsage, "rule set needs --include")
	runAt(t, d, "rss", "add", "--interval", "1.5s", feedURL).fails(t, cli.ExitUsage, "whole seconds")
}
