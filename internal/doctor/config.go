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

// Served checks a running daemon's configuration as it applies it: the
// API on an address other machines reach without TLS sends the token in
// clear over the network. engine is the BitTorrent core in use.
func Served(apiAddr string, tls bool, engine string) Finding {
	host, _, err := net.SplitHostPort(apiAddr)
	ip := net.ParseIP(host)
	remote := err == nil && host != "localhost" && (ip == nil || !ip.IsLoopback())
	if remote && !tls {
		return Warn(CheckConfig, "serve the API with --tls-cert and --tls-key, or keep --api-addr on 127.0.0.1 behind a TLS reverse proxy",
			"the API listens on %s, reachable from other machines, without TLS: the token crosses the network in clear", apiAddr)
	}
	return OK(CheckConfig, "the daemon validated its configuration at start: API on %s, engine %s", apiAddr, engine)
}
