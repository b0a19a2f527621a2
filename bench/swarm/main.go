// Command swarm benchmarks BitTorrent clients on a loopback swarm: a
// libtorrent seeder (or lodestone, with -direction seed) holds generated
// content, a tracker in this program points each leecher at it, and each
// leecher — lodestone, aria2, qBittorrent, Transmission, libtorrent — is
// timed alone, round-robin, for a number of rounds. Every downloaded byte
// is checked (SHA-256 of every file). It prints a markdown table and
// writes the raw runs as JSON.
//
// It must run in a private network namespace where only lo exists
// (bench/run-swarm does that); it refuses to run where another interface
// is up. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "embed"

	"golang.org/x/sys/unix"
)

//go:embed lt_peer.py
var ltPeerScript []byte

// Directions.
const (
	dirLeech = "leech" // lodestone and others download from a libtorrent seeder
	dirSeed  = "seed"  // lodestone (and libtorrent, as baseline) seed to leechers
)

// config is the command line.
type config struct {
	shape       string
	direction   string
	size        int64
	files       int
	pieceLen    int64
	rounds      int
	clients     []string
	seeders     []string
	timeout     time.Duration
	keep        bool
	workDir     string
	lodestone   string
	nativeleech string
	maker       string
	leechCPUs   string // -pin: taskset CPU lists, "" for none
	seedCPUs    string
	python      string
	jsonOut     string
	commit      string
	seed        uint64
	anyNet      bool
	idleBusy    float64
	seederMax   float64
	sparse      bool
	annWait     time.Duration
	retries     int
	idleWait    time.Duration
	logLevel    slog.Level
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("swarm", flag.ContinueOnError)
	fs.StringVar(&c.shape, "shape", shapeSingle, "content: single (one file), many (-files files in nested folders), big (one file, mostly zeros plus random blocks)")
	fs.StringVar(&c.direction, "direction", dirLeech, "leech: the clients download from a libtorrent seeder; seed: lodestone and libtorrent seed to the clients")
	size := fs.String("size", "", "total content size, e.g. 256MiB, 1GiB, 16GiB (default 1GiB, 16GiB for big)")
	fs.IntVar(&c.files, "files", 1000, "number of files of the many shape")
	piece := fs.String("piece", "auto", "piece length, e.g. 256KiB (auto: the smallest power of two ≥ 1 MiB giving ≤ 4096 pieces)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds: each round runs every client once, one at a time")
	clients := fs.String("clients", "", "leechers, comma-separated, in run order (default: lodestone,aria2,qbittorrent,transmission,libtorrent; with -direction seed: aria2,libtorrent)")
	seeders := fs.String("seeders", "lodestone,libtorrent", "with -direction seed: the seeders, in run order")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "per-run timeout: the leecher is killed and the run counted as failed")
	fs.BoolVar(&c.keep, "keep", false, "keep the work dir (content, downloads, logs) instead of removing it")
	fs.StringVar(&c.workDir, "workdir", os.TempDir(), "where the work dir is created")
	fs.StringVar(&c.lodestone, "lodestone", "lodestone", "the lodestone binary to measure")
	fs.StringVar(&c.maker, "maker", makerGo, "who makes the .torrent: go (v1, by the benchmark) or libtorrent (its default: a v1+v2 hybrid with pad files, as qBittorrent makes them)")
	fs.StringVar(&c.nativeleech, "nativeleech", "", "the bench/nativeleech binary, for the client lodestone-native")
	fs.StringVar(&c.python, "python", "/usr/bin/python3", "a python3 with the libtorrent module (Debian's python3-libtorrent)")
	fs.StringVar(&c.jsonOut, "json", "", "where to write the raw runs (default: lodestone-swarm-SHAPE-DIRECTION-TIME.json in the work dir's parent)")
	fs.StringVar(&c.commit, "commit", "", "the lodestone commit, if the binary has no build info")
	fs.Uint64Var(&c.seed, "seed", 1, "content seed")
	fs.BoolVar(&c.anyNet, "unsafe-any-network", false, "run even if a network interface other than lo is up (everything still binds 127.0.0.1)")
	fs.Float64Var(&c.idleBusy, "idle-below", 0.5, "before each run, wait until the rest of the machine uses less than this many CPUs (sampled over 1 s) ...")
	fs.DurationVar(&c.idleWait, "idle-wait", 30*time.Second, "... but at most this long (0: don't wait); the run then goes ahead and its other_cpu_s shows the noise")
	fs.Float64Var(&c.seederMax, "seeder-max", 0.8, "a run whose seeder used more than this many cores (CPU s / wall s) is invalid: the seeder may have been the bottleneck. Invalid runs are listed but left out of the medians")
	fs.BoolVar(&c.sparse, "sparse", false, "big: leave the seeder's zero ranges as holes instead of fallocating them (needs only the random part on disk for the content)")
	fs.DurationVar(&c.annWait, "announce-wait", 30*time.Second, "fail a run early if the tracker got no announce from the leecher within this time (0: never)")
	fs.IntVar(&c.retries, "retries", 1, "run again a run that failed for want of an announce, up to this many times (the failed attempt is kept in the results)")
	pin := fs.Bool("pin", false, "pin the leecher to CPU 0 and the seeder to CPU 1 (taskset): CPU-bound throughput on one core each, the number that decides speed on a NAS or a small ARM board")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *verbose {
		c.logLevel = slog.LevelDebug
	}
	if *pin {
		c.leechCPUs, c.seedCPUs = "0", "1"
	}
	if c.maker != makerGo && c.maker != makerLibtorrent {
		return c, fmt.Errorf("-maker %q: want go or libtorrent", c.maker)
	}
	switch c.shape {
	case shapeSingle, shapeMany:
		c.size = 1 << 30
	case shapeBig:
		c.size = 16 << 30
	default:
		return c, fmt.Errorf("-shape %q: want single, many or big", c.shape)
	}
	var err error
	if *size != "" {
		if c.size, err = parseSize(*size); err != nil {
			return c, fmt.Errorf("-size: %w", err)
		}
	}
	if c.size <= 0 {
		return c, errors.New("-size must be positive")
	}
	if *piece == "auto" {
		c.pieceLen = autoPieceLen(c.size)
	} else if c.pieceLen, err = parseSize(*piece); err != nil || c.pieceLen < 16<<10 || c.pieceLen&(c.pieceLen-1) != 0 {
		return c, fmt.Errorf("-piece %q: want a power of two ≥ 16KiB", *piece)
	}
	if c.rounds < 1 {
		return c, errors.New("-rounds must be ≥ 1")
	}
	if c.timeout <= 0 {
		return c, errors.New("-timeout must be positive")
	}
	switch c.direction {
	case dirLeech:
		if *clients == "" {
			*clients = "lodestone,aria2,qbittorrent,transmission,libtorrent"
		}
	case dirSeed:
		if *clients == "" {
			*clients = "aria2,libtorrent"
		}
		c.seeders = splitList(*seeders)
		for _, s := range c.seeders {
			if s != clientLodestone && s != clientOnAnacrolix && s != clientLibtorrent && s != clientNative {
				return c, fmt.Errorf("-seeders: %q: want lodestone, lodestone-anacrolix, lodestone-native or libtorrent", s)
			}
		}
		if len(c.seeders) == 0 {
			return c, errors.New("-seeders: none")
		}
	default:
		return c, fmt.Errorf("-direction %q: want leech or seed", c.direction)
	}
	c.clients = splitList(*clients)
	for _, n := range c.clients {
		if leechers[n] == nil {
			return c, fmt.Errorf("-clients: unknown client %q", n)
		}
		if c.direction == dirSeed && n == clientTransmission && (slices.Contains(c.seeders, clientLodestone) || slices.Contains(c.seeders, clientOnAnacrolix)) {
			return c, errors.New("-clients: transmission cannot leech from lodestone: Transmission never dials loopback peers and lodestone cannot be told to dial it")
		}
	}
	if len(c.clients) == 0 {
		return c, errors.New("-clients: none")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseSize reads 1GiB, 256MiB, 512KiB, 1G, 100M or a number of bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return 0, err
			}
			return v * u.mult, nil
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// bench is one benchmark invocation.
type bench struct {
	cfg  config
	log  *slog.Logger
	work string

	content     *content
	torrentPath string
	metainfo    []byte
	infoHash    string
	tracker     *tracker
	script      string

	mu    sync.Mutex
	procs []*proc // every process started, killed at the end
}

// track remembers p so that it is killed when the benchmark ends.
func (b *bench) track(p *proc) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.procs = append(b.procs, p)
}

func (b *bench) killAll() {
	b.mu.Lock()
	procs := b.procs
	b.procs = nil
	b.mu.Unlock()
	for _, p := range procs {
		p.stop(5 * time.Second)
	}
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "swarm:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("swarm failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, log *slog.Logger) (err error) {
	if err := checkNetwork(cfg.anyNet); err != nil {
		return err
	}
	for _, bin := range []string{cfg.lodestone, cfg.python, "aria2c", "qbittorrent-nox", "transmission-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s: %w (bench/run-swarm installs the clients)", bin, err)
		}
	}
	if err := checkDisk(cfg); err != nil {
		return err
	}
	work, err := os.MkdirTemp(cfg.workDir, "lodestone-swarm-")
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, log: log, work: work}
	defer func() {
		b.killAll()
		if b.tracker != nil {
			b.tracker.close()
		}
		if cfg.keep {
			log.Info("work dir kept", "dir", work)
		} else if rerr := os.RemoveAll(work); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	b.script = filepath.Join(work, "lt_peer.py")
	if err := os.WriteFile(b.script, ltPeerScript, 0o755); err != nil {
		return err
	}

	started := time.Now()
	env := describeMachine()
	env.Versions = versions(ctx, b)
	log.Info("versions", "clients", env.Versions)

	b.tracker, err = startTracker(log.With("component", "tracker"))
	if err != nil {
		return err
	}
	c, err := plan(cfg.shape, cfg.size, cfg.files, cfg.seed)
	if err != nil {
		return err
	}
	c.holes = cfg.sparse
	if err := c.generate(ctx, log, filepath.Join(work, "content"), cfg.pieceLen); err != nil {
		return fmt.Errorf("generate content: %w", err)
	}
	b.content = c
	b.torrentPath = filepath.Join(work, c.Name+".torrent")
	if cfg.maker == makerLibtorrent {
		if b.infoHash, err = makeWithLibtorrent(ctx, b, cfg.pieceLen); err != nil {
			return err
		}
		if b.metainfo, err = os.ReadFile(b.torrentPath); err != nil {
			return err
		}
	} else {
		if b.metainfo, b.infoHash, err = c.metainfo(b.tracker.URL); err != nil {
			return err
		}
		if err := os.WriteFile(b.torrentPath, b.metainfo, 0o644); err != nil {
			return err
		}
	}
	syscall.Sync()
	if err := c.warm(); err != nil {
		return fmt.Errorf("read content: %w", err)
	}

	seeders := map[string]*seeder{}
	order := cfg.seeders
	if cfg.direction == dirLeech {
		order = []string{clientLibtorrent}
	}
	for _, name := range order {
		start := startLibtorrentSeeder
		switch name {
		case clientLodestone:
			start = startLodestoneSeeder
		case clientOnAnacrolix:
			start = func(ctx context.Context, b *bench) (*seeder, error) {
				return startLodestoneSeederAs(ctx, b, clientOnAnacrolix)
			}
		case clientNative:
			start = startNativeSeeder
		}
		sd, err := start(ctx, b)
		if err != nil {
			return fmt.Errorf("start %s seeder: %w", name, err)
		}
		seeders[name] = sd
	}

	var runs []runResult
	for round := 1; round <= cfg.rounds; round++ {
		for _, sname := range order {
			sd := seeders[sname]
			b.tracker.setActive(sd.addr)
			for _, lname := range cfg.clients {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if sname == lname && (sname == clientLodestone || sname == clientOnAnacrolix) {
					continue
				}
				for attempt := 1; ; attempt++ {
					r := b.runOnce(ctx, round, sd, lname)
					r.Attempt = attempt
					runs = append(runs, r)
					if r.OK || !r.NoAnnounce || attempt > cfg.retries || ctx.Err() != nil {
						break
					}
					b.log.Warn("running again", "round", round, "leecher", lname, "attempt", attempt+1)
				}
			}
		}
	}
	rep := report{
		Date: started.UTC().Format(time.RFC3339), Machine: env,
		Shape: c.Shape, Direction: cfg.direction, Rounds: cfg.rounds, Timeout: cfg.timeout.String(),
		Content: c, Runs: runs, Maker: cfg.maker, Pinned: cfg.leechCPUs != "",
	}
	rep.Summary = summarize(runs)
	jsonPath := cfg.jsonOut
	if jsonPath == "" {
		jsonPath = filepath.Join(cfg.workDir, fmt.Sprintf("lodestone-swarm-%s-%s-%s.json", c.Shape, cfg.direction, started.Format("20060102-150405")))
	}
	jb, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(jsonPath, append(jb, '\n'), 0o644); err != nil {
		return err
	}
	rep.markdown(os.Stdout)
	fmt.Printf("\nraw runs: %s\n", jsonPath)
	log.Info("done", "took", time.Since(started).Round(time.Second), "json", jsonPath)
	return nil
}

// runOnce times one leecher against seeder sd.
func (b *bench) runOnce(ctx context.Context, round int, sd *seeder, lname string) runResult {
	r := runResult{Round: round, Direction: b.cfg.direction, Leecher: lname, Seeder: sd.name, Bytes: b.content.Total}
	log := b.log.With("round", round, "seeder", sd.name, "leecher", lname)
	syscall.Sync() // the previous run's writeback must not land in this one
	rd, err := newRunDir(b.work, lname)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer func() {
		if !b.cfg.keep {
			os.RemoveAll(rd.dir)
		}
	}()
	r.BusyBefore = b.waitIdle(ctx, log)
	b.tracker.takeAnnounces()
	seedCPU0, _ := cpuTicks(sd.p.pid())
	busy0, _ := machineBusy()

	rctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	wctx, cancelCause := context.WithCancelCause(rctx)
	if b.cfg.annWait > 0 {
		go func() {
			select {
			case <-time.After(b.cfg.annWait):
				if b.tracker.leechAnnounces() == 0 {
					cancelCause(errNoAnnounce)
				}
			case <-wctx.Done():
			}
		}()
	}
	st, err := leechers[lname](wctx, b, rd, sd)
	if err != nil && errors.Is(context.Cause(wctx), errNoAnnounce) {
		err = fmt.Errorf("%w (%w)", errNoAnnounce, err)
		r.NoAnnounce = true
	}
	cancelCause(nil)
	cancel()
	if st.p != nil {
		b.track(st.p)
	}
	seedCPU1, _ := cpuTicks(sd.p.pid())
	busy1, _ := machineBusy()
	r.Note = st.note
	if err == nil {
		r.WallS = st.done.Sub(st.p.start).Seconds()
		r.MiBs = float64(b.content.Total) / (1 << 20) / r.WallS
		r.SeederCPUS = seedCPU1 - seedCPU0
	}
	if st.p != nil {
		if st.selfExit && err == nil && !st.p.waitExit(30*time.Second) {
			log.Warn("leecher did not exit by itself after finishing; stopping it")
		}
		st.p.stop(10 * time.Second)
		user, sys, rss := st.p.usage()
		r.UserS, r.SysS = user.Seconds(), sys.Seconds()
		r.CPUS = r.UserS + r.SysS
		r.MaxRSSMiB = float64(rss) / 1024
		r.Exit = st.p.exitStatus()
	}
	if err == nil {
		// The leecher's rusage runs to its exit, a little past done, so
		// this slightly underestimates the others.
		r.OtherCPUS = max(0, busy1-busy0-r.SeederCPUS-r.CPUS)
	}
	r.Announces = b.tracker.takeAnnounces()
	if err != nil {
		r.Error = err.Error()
		if r.Announces == 0 && !r.NoAnnounce {
			r.Error += " (the tracker got no announce during the run)"
		}
		log.Error("run failed", "err", err, "log", rd.log)
		if b.cfg.keep {
			return r
		}
		if tail := tailFile(rd.log, 2000); tail != "" {
			log.Error("leecher log tail", "log", tail)
		}
		return r
	}
	vstart := time.Now()
	if err := b.content.verify(ctx, rd.dl); err != nil {
		r.Error = "verify: " + err.Error()
		log.Error("run failed verification", "err", err)
		return r
	}
	r.Verified, r.OK = true, true
	r.SeederCores = r.SeederCPUS / r.WallS
	r.SeederBound = r.SeederCores > b.cfg.seederMax
	log.Info("run", "wall_s", fmt.Sprintf("%.2f", r.WallS), "MiB/s", fmt.Sprintf("%.0f", r.MiBs),
		"cpu_s", fmt.Sprintf("%.2f", r.CPUS), "rss_MiB", fmt.Sprintf("%.0f", r.MaxRSSMiB),
		"seeder_cpu_s", fmt.Sprintf("%.2f", r.SeederCPUS), "seeder_cores", fmt.Sprintf("%.2f", r.SeederCores),
		"verify", time.Since(vstart).Round(time.Millisecond))
	if r.SeederBound {
		log.Warn("invalid run: the seeder used more than -seeder-max of a core, so it may have set the rate", "seeder_cores", fmt.Sprintf("%.2f", r.SeederCores))
	}
	return r
}

// errNoAnnounce fails a run whose leecher did not announce in time.
var errNoAnnounce = errors.New("the leecher sent no announce to the tracker in time")

// waitIdle waits (up to -idle-wait) until the machine, minus the idle
// seeders, uses less than -idle-below CPUs, and returns the last sample.
func (b *bench) waitIdle(ctx context.Context, log *slog.Logger) float64 {
	deadline := time.Now().Add(b.cfg.idleWait)
	for {
		busy0, err0 := machineBusy()
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(time.Second):
		}
		busy1, err1 := machineBusy()
		if err0 != nil || err1 != nil {
			return 0
		}
		used := busy1 - busy0
		if used < b.cfg.idleBusy || !time.Now().Before(deadline) {
			if used >= b.cfg.idleBusy && b.cfg.idleWait > 0 {
				log.Warn("machine still busy, running anyway", "cpus_used_by_others", fmt.Sprintf("%.2f", used))
			}
			return used
		}
		log.Info("machine busy, waiting", "cpus_used_by_others", fmt.Sprintf("%.2f", used))
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// checkNetwork refuses to run if an interface other than lo is up: the
// benchmark belongs in a private network namespace.
func checkNetwork(anyNet bool) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Name != "lo" && i.Flags&net.FlagUp != 0 && !anyNet {
			return fmt.Errorf("network interface %s is up: run inside `unshare --net` (bench/run-swarm does), or pass -unsafe-any-network", i.Name)
		}
	}
	return nil
}

// checkDisk refuses to start without room for the content, one download
// and 1 GiB to spare.
func checkDisk(cfg config) error {
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.workDir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", cfg.workDir, err)
	}
	free := int64(st.Bavail) * st.Bsize
	content := cfg.size
	if cfg.sparse && cfg.shape == shapeBig {
		content = cfg.size / bigRandomEvery
	}
	need := content + cfg.size + 1<<30
	if free < need {
		return fmt.Errorf("%s has %s free; the %s shape of %s needs %s (content + one download + 1 GiB)",
			cfg.workDir, sizeName(free&^(1<<20-1)), cfg.shape, sizeName(cfg.size), sizeName(need))
	}
	return nil
}
