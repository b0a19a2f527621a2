package cli_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// export writes a task's .torrent, byte for byte the one added, to
// standard output or to -o's file; add --metadata-only leaves it paused.
func TestExport(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.MultiFile(36))
	runAt(t, d, "add", "--metadata-only", torrentFile(t, tr)).ok(t)
	if out := runAt(t, d, "export", tr.InfoHash[:8]).ok(t).stdout; out != string(tr.MetaInfo) {
		t.Errorf("export to stdout: %d bytes, want the %d added", len(out), len(tr.MetaInfo))
	}
	file := filepath.Join(t.TempDir(), "x.torrent")
	if out := runAt(t, d, "export", "-o", file, tr.InfoHash).ok(t).stdout; out != "" {
		t.Errorf("export -o wrote %q to stdout", out)
	}
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, tr.MetaInfo) {
		t.Errorf("export -o: %d bytes, %v; want the %d added", len(got), err, len(tr.MetaInfo))
	}
	if out := runAt(t, d, "export", "--json", tr.InfoHash).ok(t).stdout; out != `{"torrent":"`+base64.StdEncoding.EncodeToString(tr.MetaInfo)+"\"}\n" {
		t.Errorf("export --json: %q", out)
	}
	if r := runAt(t, d, "info", tr.InfoHash).ok(t); !bytes.Contains([]byte(r.stdout), []byte("paused")) {
		t.Errorf("add --metadata-only: task not paused:\n%s", r.stdout)
	}
}
