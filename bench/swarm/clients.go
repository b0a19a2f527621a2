package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// Client names.
const (
	clientLodestone = "lodestone"
	// clientLodestoneWB is lodestone on the anacrolix core with its
	// write-back piece buffers (--write-buffer-mib 64).
	clientLodestoneWB = "lodestone-writeback"
	// clientOnAnacrolix is the daemon on its former core (--engine
	// anacrolix).
	clientOnAnacrolix = "lodestone-anacrolix"
	// clientNative is Lodestone's own core (internal/engine/native)
	// alone, through bench/nativeleech: the daemon's cost is the
	// difference to clientLodestone.
	clientNative       = "lodestone-native"
	clientAria2        = "aria2"
	clientQBittorrent  = "qbittorrent"
	clientTransmission = "transmission"
	clientLibtorrent   = "libtorrent"
)

// runDir is the scratch space of one timed run.
type runDir struct {
	dir  string // everything of the run
	dl   string // the leecher's download dir (fresh, empty)
	log  string // the leecher's stdout and stderr
	done string // a hook script creates this file when the client finished
	hook string // that hook script
}

func newRunDir(parent, name string) (*runDir, error) {
	dir, err := os.MkdirTemp(parent, name+"-")
	if err != nil {
		return nil, err
	}
	rd := &runDir{
		dir:  dir,
		dl:   filepath.Join(dir, "download"),
		log:  filepath.Join(dir, name+".log"),
		done: filepath.Join(dir, "finished"),
		hook: filepath.Join(dir, "on-finished.sh"),
	}
	if err := os.Mkdir(rd.dl, 0o755); err != nil {
		return nil, err
	}
	script := "#!/bin/sh\n: > '" + rd.done + "'\n"
	if err := os.WriteFile(rd.hook, []byte(script), 0o755); err != nil {
		return nil, err
	}
	return rd, nil
}

// started is a leecher that finished: its process (still running unless
// it exits by itself) and when it said all data was verified.
type started struct {
	p    *proc
	done time.Time
	// selfExit: the client exits by itself once done (aria2 with
	// --seed-time=0, the libtorrent script); otherwise it is stopped.
	selfExit bool
	note     string
}

// leechFunc starts a leecher in rd and waits until it has every byte,
// verified by its own piece hashing. On error it returns the process (if
// it started) so its resource use is still recorded.
type leechFunc func(ctx context.Context, b *bench, rd *runDir, seeder *seeder) (started, error)

var leechers = map[string]leechFunc{
	clientLodestone:    leechLodestone,
	clientLodestoneWB:  leechLodestoneWriteBack,
	clientOnAnacrolix:  leechLodestoneOnAnacrolix,
	clientNative:       leechNative,
	clientAria2:        leechAria2,
	clientQBittorrent:  leechQBittorrent,
	clientTransmission: leechTransmission,
	clientLibtorrent:   leechLibtorrent,
}

// lodestoneArgs are the serve flags every lodestone of the benchmark uses.
func lodestoneArgs(apiPort, peerPort int, dataDir, downloadDir string) []string {
	return []string{"serve",
		"--api-addr", "127.0.0.1:" + strconv.Itoa(apiPort),
		"--peer-addr", "127.0.0.1:" + strconv.Itoa(peerPort),
		"--data-dir", dataDir, "--download-dir", downloadDir,
		"--dht=false", "--upnp=false", "--utp=false", "--allow-private-trackers",
		"--token", lodestoneToken, "--log-level", "warn",
	}
}

const lodestoneToken = "swarm-bench-0123456789ab"

// startLodestone starts `lodestone serve` and connects a client to it.
func startLodestone(ctx context.Context, b *bench, name, dir, downloadDir, logPath string, extra ...string) (*proc, *client.Client, int, error) {
	apiPort, err := freePort()
	if err != nil {
		return nil, nil, 0, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, nil, 0, err
	}
	p, err := startProc(procOpts{name: name, path: b.cfg.lodestone, logPath: logPath, cpus: b.cpusOf(name),
		args: append(lodestoneArgs(apiPort, peerPort, filepath.Join(dir, "data"), downloadDir), extra...)})
	if err != nil {
		return nil, nil, 0, err
	}
	url := fmt.Sprintf("ws://127.0.0.1:%d%s", apiPort, api.Path)
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := client.Dial(dctx, url, lodestoneToken)
		cancel()
		if err == nil {
			return p, c, peerPort, nil
		}
		select {
		case <-p.exited:
			return p, nil, 0, fmt.Errorf("%s ended (%s) before its API answered", name, p.exitStatus())
		case <-ctx.Done():
			return p, nil, 0, fmt.Errorf("%s API: %w (last: %w)", name, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// addAndWait adds the benchmark's torrent and waits for its task.finished
// event (every piece verified), failing on task.error.
func addAndWait(ctx context.Context, b *bench, c *client.Client) error {
	res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(b.metainfo)})
	if err != nil {
		return fmt.Errorf("task.add: %w", err)
	}
	if res.TaskID != b.infoHash {
		return fmt.Errorf("task.add: task %s, want %s", res.TaskID, b.infoHash)
	}
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("connection ended: %w", c.Err())
			}
			var d struct {
				TaskID string `json:"task_id"`
				Error  string `json:"error"`
			}
			if json.Unmarshal(ev.Data, &d) != nil || d.TaskID != b.infoHash {
				continue
			}
			switch ev.Name {
			case api.EventTaskFinished:
				return nil
			case api.EventTaskError:
				return fmt.Errorf("task.error: %s", d.Error)
			}
		case <-ctx.Done():
			return lodestoneProgress(c, b.infoHash, ctx.Err())
		}
	}
}

// lodestoneProgress adds the task's progress to a timeout error.
func lodestoneProgress(c *client.Client, id string, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if t, gerr := c.GetTask(ctx, id); gerr == nil {
		b, _ := json.Marshal(t)
		return fmt.Errorf("%w (task: %s)", err, b)
	}
	return err
}

func leechLodestone(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	return leechLodestoneWith(ctx, b, rd, clientLodestone)
}

func leechLodestoneWriteBack(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	return leechLodestoneWith(ctx, b, rd, clientLodestoneWB, "--engine", "anacrolix", "--write-buffer-mib", "64")
}

func leechLodestoneOnAnacrolix(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	return leechLodestoneWith(ctx, b, rd, clientOnAnacrolix, "--engine", "anacrolix")
}

func leechLodestoneWith(ctx context.Context, b *bench, rd *runDir, name string, extra ...string) (started, error) {
	p, c, _, err := startLodestone(ctx, b, name, rd.dir, rd.dl, rd.log, extra...)
	if err != nil {
		return started{p: p}, err
	}
	defer c.Close()
	if err := addAndWait(ctx, b, c); err != nil {
		return started{p: p}, err
	}
	return started{p: p, done: time.Now()}, nil
}

func leechNative(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	if b.cfg.nativeleech == "" {
		return started{}, errors.New("no -nativeleech binary given")
	}
	p, err := startProc(procOpts{name: clientNative, path: b.cfg.nativeleech, cpus: b.cfg.leechCPUs, logPath: rd.log, lines: true,
		args: []string{"-torrent", b.torrentPath, "-dir", rd.dl, "-listen", "127.0.0.1:0", "-v=" + strconv.FormatBool(b.cfg.logLevel == slog.LevelDebug)}})
	if err != nil {
		return started{}, err
	}
	if _, err := p.waitLine(ctx, "done"); err != nil {
		return started{p: p}, err
	}
	return started{p: p, done: time.Now(), selfExit: true}, nil
}

func leechAria2(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	port, err := freePort()
	if err != nil {
		return started{}, err
	}
	p, err := startProc(procOpts{name: clientAria2, path: "aria2c", cpus: b.cfg.leechCPUs, logPath: rd.log, args: []string{
		"--no-conf=true", "--dir=" + rd.dl, "--seed-time=0",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--disable-ipv6=true", "--interface=127.0.0.1", "--listen-port=" + strconv.Itoa(port),
		// aria2's default (prealloc) writes the whole file with zeros
		// before downloading; the other clients don't preallocate.
		"--file-allocation=none",
		"--summary-interval=0", "--console-log-level=warn", "--bt-hash-check-seed=false",
		"--on-bt-download-complete=" + rd.hook,
		b.torrentPath,
	}})
	if err != nil {
		return started{}, err
	}
	done, err := p.waitFile(ctx, rd.done)
	return started{p: p, done: done, selfExit: true}, err
}

func leechLibtorrent(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	secs := b.cfg.timeout.Seconds()
	p, err := startProc(procOpts{name: clientLibtorrent, path: b.cfg.python, cpus: b.cfg.leechCPUs, logPath: rd.log, lines: true,
		args: []string{b.script, "leech", b.torrentPath, rd.dl, strconv.FormatFloat(secs, 'f', 0, 64)}})
	if err != nil {
		return started{}, err
	}
	if _, err := p.waitLine(ctx, "done"); err != nil {
		return started{p: p}, err
	}
	return started{p: p, done: time.Now(), selfExit: true}, nil
}

// qBittorrentConf is qBittorrent 4.5's configuration for a loopback
// benchmark: DHT, LSD, PeX, UPnP/NAT-PMP and uTP off, listening on
// 127.0.0.1 only, WebUI on loopback without login (for diagnostics), the
// legal notice accepted, and a run-on-finish hook.
const qBittorrentConf = `[LegalNotice]
Accepted=true

[BitTorrent]
Session\DHTEnabled=false
Session\LSDEnabled=false
Session\PeXEnabled=false
Session\BTProtocol=TCP
Session\Port=%[1]d
Session\Interface=lo
Session\InterfaceName=lo
Session\InterfaceAddress=127.0.0.1
Session\DefaultSavePath=%[2]s
Session\TempPathEnabled=false
Session\QueueingSystemEnabled=false
Session\AddTorrentPaused=false
Session\Preallocation=false

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\UPnP=false
General\Locale=en
WebUI\Enabled=true
WebUI\Address=127.0.0.1
WebUI\Port=%[3]d
WebUI\LocalHostAuth=false
WebUI\CSRFProtection=false
WebUI\HostHeaderValidation=false

[AutoRun]
enabled=true
program=%[4]s
`

func leechQBittorrent(ctx context.Context, b *bench, rd *runDir, _ *seeder) (started, error) {
	port, err := freePort()
	if err != nil {
		return started{}, err
	}
	webPort, err := freePort()
	if err != nil {
		return started{}, err
	}
	profile := filepath.Join(rd.dir, "qbt")
	confDir := filepath.Join(profile, "qBittorrent", "config")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return started{}, err
	}
	conf := fmt.Sprintf(qBittorrentConf, port, rd.dl, webPort, rd.hook)
	if err := os.WriteFile(filepath.Join(confDir, "qBittorrent.conf"), []byte(conf), 0o644); err != nil {
		return started{}, err
	}
	p, err := startProc(procOpts{name: clientQBittorrent, path: "qbittorrent-nox", cpus: b.cfg.leechCPUs, logPath: rd.log,
		env: []string{"HOME=" + rd.dir, "XDG_CONFIG_HOME=" + profile, "XDG_DATA_HOME=" + profile, "XDG_CACHE_HOME=" + profile},
		args: []string{"--profile=" + profile, "--webui-port=" + strconv.Itoa(webPort),
			"--save-path=" + rd.dl, "--add-paused=false", b.torrentPath}})
	if err != nil {
		return started{}, err
	}
	done, err := p.waitFile(ctx, rd.done)
	if err != nil {
		err = fmt.Errorf("%w (WebUI: %s)", err, qbtState(webPort))
	}
	return started{p: p, done: done}, err
}

// qbtState asks qBittorrent's WebUI for its torrents, for error messages.
func qbtState(port int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b, err := httpGet(ctx, fmt.Sprintf("http://127.0.0.1:%d/api/v2/torrents/info", port))
	if err != nil {
		return err.Error()
	}
	if len(b) > 600 {
		b = b[:600]
	}
	return string(b)
}

// transmissionSettings: DHT, LSD, PEX, uTP and port forwarding off, bound
// to 127.0.0.1, encryption tolerated (plaintext preferred, as the other
// clients end up), no speed limits.
const transmissionSettings = `{
	"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
	"port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
	"peer-port": %d, "encryption": 0, "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
	"download-dir": %q, "incomplete-dir-enabled": false, "rename-partial-files": false,
	"message-level": 1
}`

// leechTransmission runs transmission-cli. Transmission never dials
// loopback addresses (they are "martians" to it, even from a tracker), so
// the seeder dials Transmission instead, once it listens; the seeder's
// dial is part of the measured time.
func leechTransmission(ctx context.Context, b *bench, rd *runDir, sd *seeder) (started, error) {
	if sd.dial == nil {
		return started{}, fmt.Errorf("seeder %s cannot dial Transmission, which never dials loopback peers", sd.name)
	}
	port, err := freePort()
	if err != nil {
		return started{}, err
	}
	cfg := filepath.Join(rd.dir, "transmission")
	if err := os.Mkdir(cfg, 0o755); err != nil {
		return started{}, err
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), fmt.Appendf(nil, transmissionSettings, port, rd.dl), 0o644); err != nil {
		return started{}, err
	}
	p, err := startProc(procOpts{name: clientTransmission, path: "transmission-cli", cpus: b.cfg.leechCPUs, logPath: rd.log,
		env:  []string{"HOME=" + rd.dir},
		args: []string{"-g", cfg, "-w", rd.dl, "-p", strconv.Itoa(port), "-M", "-U", "-D", "-et", "-f", rd.hook, b.torrentPath}})
	if err != nil {
		return started{}, err
	}
	if err := waitListening(ctx, p, port); err != nil {
		return started{p: p}, err
	}
	// It may refuse the first handshake (torrent not loaded yet): the
	// seeder dials again after 1 s.
	if err := sd.dial(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))); err != nil {
		return started{p: p}, err
	}
	defer sd.dial(netip.AddrPort{})
	done, err := p.waitFile(ctx, rd.done)
	return started{p: p, done: done, note: "seeder dials it"}, err
}

// versions asks each client for its version, for the report.
func versions(ctx context.Context, b *bench) map[string]string {
	v := map[string]string{}
	first := func(out string) string {
		out = strings.TrimSpace(out)
		if i := strings.IndexByte(out, '\n'); i >= 0 {
			out = out[:i]
		}
		return out
	}
	run := func(name string, args ...string) string {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := commandOutput(cctx, name, args...)
		if err != nil {
			return "unknown (" + err.Error() + ")"
		}
		return first(out)
	}
	v[clientAria2] = strings.TrimPrefix(run("aria2c", "--version"), "aria2 version ")
	v[clientQBittorrent] = strings.TrimPrefix(run("qbittorrent-nox", "--version"), "qBittorrent ")
	v[clientTransmission] = strings.TrimPrefix(run("transmission-cli", "--version"), "transmission-cli ")
	v[clientLibtorrent] = run(b.cfg.python, "-c", "import libtorrent; print(libtorrent.__version__)")
	v[clientLodestone] = lodestoneVersion(b.cfg.lodestone, b.cfg.commit)
	return v
}

var errNoBuildInfo = errors.New("no build info")
