package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
)

// manPage is docs/lodestone.1, generated from the command definitions.
var manPage = filepath.Join("..", "..", "docs", "lodestone.1")

// The committed man page is what `lodestone __man` makes of the commands
// now, serve's flags included; and groff formats it without a warning.
func TestManPage(t *testing.T) {
	// serve's defaults come from the environment: generate the page as
	// for a user who set none of it (the home dir shows as ~).
	for _, v := range []string{"XDG_DATA_HOME", "XDG_DOWNLOAD_DIR", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "LODESTONE_TOKEN", "LODESTONE_PROXY"} {
		t.Setenv(v, "")
	}
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), []string{"__man"}, cli.Options{Stdout: &out, Stderr: &errb, ServeFlags: serveFlagSet}); code != 0 {
		t.Fatalf("__man: exit %d: %s", code, errb.String())
	}
	committed, err := os.ReadFile(manPage)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), committed) {
		t.Errorf("docs/lodestone.1 is not what `lodestone __man` generates now: run env -u XDG_DATA_HOME -u XDG_DOWNLOAD_DIR go run ./cmd/lodestone __man > docs/lodestone.1")
	}
	for _, want := range []string{".SS serve\n", `\fB\-\-allow\-private\-trackers\fR`, ".SS completion\n", ".SS trackers\n", ".SH COMMON FLAGS\n"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("the man page lacks %q", want)
		}
	}

	groff, err := exec.LookPath("groff")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("groff not found (scripts/test installs groff-base)")
		}
		t.Skip("groff not found: apt-get install groff-base")
	}
	// -ww: every warning; -z: no output, only diagnostics.
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", manPage)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, stderr.String())
	}
	// And it reads as a page: the commands are there, formatted.
	text, err := exec.Command(groff, "-man", "-Tutf8", "-P-c", manPage).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), "lodestone trackers [flags] add <task-id> <url>...") {
		t.Errorf("the formatted page lacks the trackers synopsis:\n%.2000s", text)
	}
}
