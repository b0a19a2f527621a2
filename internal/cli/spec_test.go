package cli

import (
	"strings"
	"testing"
)

// Every command reaches its flag parsing first, so describing it for
// completion and the man page runs nothing else: its usage and flags are
// recorded, and the common flags are among them.
func TestSpecs(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		s := describeCommand(c)
		if !strings.HasPrefix(s.usage, "usage: lodestone "+c.name) {
			t.Errorf("%s: usage %.40q: the command did not reach parse", c.name, s.usage)
		}
		if !strings.Contains(" completion create version restore ", " "+c.name+" ") && s.flags.Lookup("api-addr") == nil {
			t.Errorf("%s: no --api-addr among its flags", c.name)
		}
	}
	if got := describeCommand(command{name: "category", run: runCategory}).actions(); strings.Join(got, " ") != "ls set rm" {
		t.Errorf("category's actions: %q", got)
	}
}
