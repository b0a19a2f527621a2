package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// seeder is a long-lived process holding the content.
type seeder struct {
	name string
	p    *proc
	addr netip.AddrPort
	// dial, when not nil, makes the seeder dial a peer (and keep
	// re-dialing it while not connected); the zero AddrPort stops that.
	dial func(netip.AddrPort) error
}

// seedTimeout bounds a seeder's start, which hashes all the content.
func seedTimeout(total int64) time.Duration {
	return 2*time.Minute + time.Duration(total/(20<<20))*time.Second // ≥ 20 MiB/s
}

// startLibtorrentSeeder runs lt_peer.py seed on the content and waits
// until it has checked every piece.
func startLibtorrentSeeder(ctx context.Context, b *bench) (*seeder, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	sd, err := startSeederProc(ctx, b, clientLibtorrent, port, procOpts{name: "libtorrent-seeder", path: b.cfg.python,
		args: []string{b.script, "seed", b.torrentPath, b.content.Dir, strconv.Itoa(port)}})
	if err != nil {
		return nil, err
	}
	p := sd.p
	sd.dial = func(to netip.AddrPort) error {
		line := "disconnect\n"
		if to.IsValid() {
			line = fmt.Sprintf("connect %s %d\n", to.Addr(), to.Port())
		}
		_, err := io.WriteString(p.stdin, line)
		return err
	}
	return sd, nil
}

// startLodestoneSeeder runs `lodestone serve` with its download dir at the
// content, adds the torrent (which rechecks every piece of the existing
// data) and waits for task.finished: from then on it seeds.
func startLodestoneSeeder(ctx context.Context, b *bench) (*seeder, error) {
	return startLodestoneSeederAs(ctx, b, clientLodestone)
}

// startLodestoneSeederAs starts the lodestone seeder called name: on the
// anacrolix core for clientOnAnacrolix.
func startLodestoneSeederAs(ctx context.Context, b *bench, name string) (*seeder, error) {
	var extra []string
	if name == clientOnAnacrolix {
		extra = []string{"--engine", "anacrolix"}
	}
	dir := filepath.Join(b.work, name+"-seeder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, seedTimeout(b.content.Total))
	defer cancel()
	start := time.Now()
	p, c, peerPort, err := startLodestone(ctx, b, name+"-seeder", dir, b.content.Dir, filepath.Join(b.work, name+"-seeder.log"), extra...)
	if p != nil {
		b.track(p)
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := addAndWait(ctx, b, c); err != nil {
		return nil, fmt.Errorf("lodestone seeder: %w", err)
	}
	b.log.Info("seeder ready", "seeder", name, "port", peerPort, "check", time.Since(start).Round(time.Millisecond))
	return &seeder{name: name, p: p, addr: loopback(peerPort)}, nil
}

func loopback(port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

func commandOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// lodestoneVersion describes the measured binary: the commit it was built
// from (from its embedded build info, else the -commit flag) and whether
// the working tree had uncommitted changes.
func lodestoneVersion(bin, commit string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		if commit != "" {
			return commit
		}
		return "unknown (" + err.Error() + ")"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		if commit == "" {
			return "unknown (" + errNoBuildInfo.Error() + ")"
		}
		rev = commit
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if modified == "true" {
		rev += " + uncommitted changes"
	}
	return strings.TrimSpace(rev + " (" + info.GoVersion + ")")
}

// Torrent makers (-maker).
const (
	makerGo         = "go"
	makerLibtorrent = "libtorrent"
)

// makeWithLibtorrent writes b.torrentPath as libtorrent makes it by
// default (a v1+v2 hybrid with pad files), in pieces of pieceLen, and
// returns its v1 info-hash.
func makeWithLibtorrent(ctx context.Context, b *bench, pieceLen int64) (string, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, b.cfg.python, b.script, "make", b.torrentPath,
		filepath.Join(b.content.Dir, b.content.Name), strconv.FormatInt(pieceLen, 10), b.tracker.URL).Output()
	if err != nil {
		return "", fmt.Errorf("libtorrent make: %w", err)
	}
	ih := strings.TrimSpace(string(out))
	if len(ih) != 40 {
		return "", fmt.Errorf("libtorrent make: info-hash %q", ih)
	}
	b.log.Info("torrent made", "maker", makerLibtorrent, "infohash", ih, "took", time.Since(start).Round(time.Millisecond))
	return ih, nil
}

// startNativeSeeder runs bench/nativeleech -seed on the content (which
// verifies every piece first) and waits until it seeds.
func startNativeSeeder(ctx context.Context, b *bench) (*seeder, error) {
	if b.cfg.nativeleech == "" {
		return nil, fmt.Errorf("no -nativeleech binary given")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startSeederProc(ctx, b, clientNative, port, procOpts{name: "lodestone-native-seeder", path: b.cfg.nativeleech,
		args: []string{"-seed", "-torrent", b.torrentPath, "-dir", b.content.Dir, "-listen", loopback(port).String()}})
}

// startSeederProc starts a seeder process (o, given its name, path and
// args; pinned with -pin, logged to the work dir, stdin kept open) that
// prints "seeding" once it has checked the content and listens on port,
// and waits for that line.
func startSeederProc(ctx context.Context, b *bench, client string, port int, o procOpts) (*seeder, error) {
	o.cpus, o.lines, o.stdin = b.cfg.seedCPUs, true, true
	o.logPath = filepath.Join(b.work, o.name+".log")
	p, err := startProc(o)
	if err != nil {
		return nil, err
	}
	b.track(p)
	ctx, cancel := context.WithTimeout(ctx, seedTimeout(b.content.Total))
	defer cancel()
	start := time.Now()
	if _, err := p.waitLine(ctx, "seeding"); err != nil {
		return nil, err
	}
	b.log.Info("seeder ready", "seeder", client, "port", port, "check", time.Since(start).Round(time.Millisecond))
	return &seeder{name: client, p: p, addr: loopback(port)}, nil
}

// cpusOf returns the CPUs a lodestone process named name is pinned to
// (-pin): a seeder's or a leecher's.
func (b *bench) cpusOf(name string) string {
	if strings.HasSuffix(name, "-seeder") {
		return b.cfg.seedCPUs
	}
	return b.cfg.leechCPUs
}
