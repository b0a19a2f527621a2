package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/version"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		if code := Run(context.Background(), args, &out, &errOut); code != ExitOK {
			t.Fatalf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
		want := version.Get()
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 5 || lines[0] != "lodestone "+want.Version ||
			!strings.HasPrefix(lines[1], "commit:") ||
			lines[2] != "go:      "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH ||
			!strings.HasPrefix(lines[3], "engines: native") || !strings.HasPrefix(lines[4], "utp:") {
			t.Errorf("%v printed:\n%s", args, out.String())
		}
	}

	var out, errOut bytes.Buffer
	if code := Run(context.Background(), []string{"--version", "--json"}, &out, &errOut); code != ExitOK {
		t.Fatalf("--version --json: exit %d, stderr %q", code, errOut.String())
	}
	var got version.Info
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	if got.Version != version.Get().Version || got.GoVersion != runtime.Version() || len(got.Engines) == 0 {
		t.Errorf("--json = %+v", got)
	}

	out.Reset()
	errOut.Reset()
	if code := Run(context.Background(), []string{"version", "extra"}, &out, &errOut); code != ExitUsage {
		t.Errorf("version extra: exit %d, want %d", code, ExitUsage)
	}
}

func TestFormatVersion(t *testing.T) {
	got := formatVersion(version.Info{
		Version: "v1.2.3", Commit: "abc123", Modified: true, GoVersion: "go1.26.8", Platform: "linux/arm64",
		Engines: []version.Engine{{Name: "native", Version: "v1.2.3"}, {Name: "anacrolix", Version: "v1.62.0"}},
	})
	want := `lodestone v1.2.3
commit:  abc123 (modified)
go:      go1.26.8 linux/arm64
engines: native, anacrolix (github.com/anacrolix/torrent v1.62.0)
utp:     no (built with CGO_ENABLED=0: TCP only)
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
