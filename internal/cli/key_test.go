package cli_test

import (
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// key create/ls/revoke against a real daemon, and the key it prints used
// as another command's --token, within its scope and after revocation.
func TestKeyCommands(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	runAt(t, d, "key", "create", "--scope", "root", "x").fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "key", "create", "x").fails(t, cli.ExitUsage, "--scope")
	out := lines(runAt(t, d, "key", "create", "--scope", "read", "dashboard").ok(t).stdout)
	if len(out) != 2 || !strings.HasPrefix(out[0], "created key ") || !strings.HasSuffix(out[0], " (read) dashboard; the key, shown only this once:") || !strings.HasPrefix(out[1], "lsk_") {
		t.Fatalf("key create printed %q", out)
	}
	id, key := strings.Fields(out[0])[2], out[1]

	ls := lines(runAt(t, d, "key", "ls").ok(t).stdout)
	if len(ls) != 2 || !strings.HasPrefix(ls[0], "KEY ID") || !strings.HasPrefix(ls[1], id+"  read   dashboard  ") || !strings.HasSuffix(ls[1], "  never") {
		t.Fatalf("key ls printed %q", ls)
	}
	if strings.Contains(strings.Join(ls, "\n"), key) {
		t.Fatal("key ls shows the key")
	}

	// The key as a credential: reads pass, the rest is refused.
	asKey := func(args ...string) result {
		return run(t, append([]string{args[0], "--api-addr", d.APIAddr(), "--token", key}, args[1:]...)...)
	}
	asKey("ls").ok(t)
	asKey("key", "ls").fails(t, cli.ExitFailure, "key.list needs scope admin", "(forbidden)")
	if ls := lines(runAt(t, d, "key", "ls").ok(t).stdout); strings.HasSuffix(ls[1], "never") {
		t.Errorf("last used not updated: %q", ls[1])
	}

	if r := runAt(t, d, "key", "revoke", id).ok(t); r.stdout != "revoked key "+id+"\n" {
		t.Errorf("key revoke printed %q", r.stdout)
	}
	runAt(t, d, "key", "revoke", id).fails(t, cli.ExitFailure, "(no_such_key)")
	asKey("ls").fails(t, cli.ExitFailure, "401")
	if ls := lines(runAt(t, d, "key", "ls").ok(t).stdout); len(ls) != 1 {
		t.Errorf("key ls after revoke: %q", ls)
	}
}
