package cli_test

import (
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// key create/ls/revoke against a real daemon: the key create prints
// works as the CLI's --token within its scope (ls, not pause), ls shows
// it used, and once revoked it is refused.
func TestKeyCommands(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "key.bin", Size: 30_000, Seed: 81})
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)

	out := runAt(t, d, "key", "create", "sonarr", "read").ok(t).stdout
	l := lines(out)
	head := strings.Fields(l[0])
	if len(l) != 2 || len(head) != 4 || head[0] != "key" || head[2] != "sonarr" || head[3] != "read" || !strings.HasPrefix(l[1], "key: ") {
		t.Fatalf("key create printed %q, want \"key <id> sonarr read\" and \"key: <key>\"", out)
	}
	id, key := head[1], strings.TrimPrefix(l[1], "key: ")

	if out := runAt(t, d, "ls", "--token", key).ok(t).stdout; !strings.Contains(out, "key.bin") {
		t.Errorf("ls with the read key:\n%s", out)
	}
	runAt(t, d, "pause", "--token", key, tr.InfoHash).fails(t, cli.ExitFailure, "(forbidden)")
	runAt(t, d, "key", "--token", key, "ls").fails(t, cli.ExitFailure, "(forbidden)")

	out = runAt(t, d, "key", "ls").ok(t).stdout
	got := lines(out)
	if len(got) != 2 || !strings.HasPrefix(got[0], "ID") {
		t.Fatalf("key ls:\n%s", out)
	}
	// id, name, scope, created (date and time), last used (date and time,
	// not "-": the key was used).
	if f := strings.Fields(got[1]); len(f) != 7 || strings.Join(f[:3], " ") != id+" sonarr read" || f[5] == "-" {
		t.Errorf("key ls row %q, want the key, created and used", got[1])
	}
	if out := runAt(t, d, "key", "--json", "ls").ok(t).stdout; strings.Contains(out, key) {
		t.Errorf("key ls --json shows the key: %s", out)
	}

	runAt(t, d, "key", "create", "x", "root").fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "key", "create", "x").fails(t, cli.ExitUsage, "create takes a name and a scope")
	if out := runAt(t, d, "key", "revoke", id).ok(t).stdout; out != "revoked key "+id+"\n" {
		t.Errorf("key revoke printed %q", out)
	}
	runAt(t, d, "ls", "--token", key).fails(t, cli.ExitFailure)
	runAt(t, d, "key", "revoke", id).fails(t, cli.ExitFailure, "(no_such_key)")
}
