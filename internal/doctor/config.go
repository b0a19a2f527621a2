package doctor

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Config checks the settings the daemon would start with, as far as a
// client can see them: both dirs set and apart (a torrent's files in the
// data dir could overwrite the daemon's state), and the peer address
// well formed. The daemon validates the whole configuration at start.
func Config(dataDir, downloadDir, peerAddr string) Finding {
	var problems []string
	var fix string
	data, dl := absClean(dataDir), absClean(downloadDir)
	switch {
	case dataDir == "" || downloadDir == "":
		problems = append(problems, "the data dir and the download dir must both be set")
		fix = "set --data-dir and --download-dir"
	case data == dl || within(dl, data) || within(data, dl):
		problems = append(problems, fmt.Sprintf("the data dir %s and the download dir %s overlap: a torrent could overwrite the daemon's state", data, dl))
		fix = "set --data-dir and --download-dir to separate directories"
	}
	if peerAddr != "" {
		if _, _, err := net.SplitHostPort(peerAddr); err != nil {
			problems = append(problems, fmt.Sprintf("peer address %q: %v", peerAddr, err))
			fix = strings.TrimPrefix(fix+"; set --peer-addr to host:port, e.g. :51413", "; ")
		}
	}
	if len(problems) > 0 {
		return Error(CheckConfig, fix, "%s", strings.Join(problems, "; "))
	}
	return OK(CheckConfig, "data dir %s, download dir %s", data, dl)
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// within reports whether path lies inside dir.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !filepath.IsAbs(rel) && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
