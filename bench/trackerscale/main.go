// Command trackerscale measures what magnets with many trackers cost the
// daemon (issue 15, item 16): it runs a real daemon in this process, adds
// -magnets magnets carrying -trackers trackers each, and reports the time
// the adds took, the goroutines, open files, heap and RSS at their peak,
// and the worst latency of session.stats called in a loop meanwhile.
//
// The trackers are all on 127.0.0.1 and none is any use: a third are
// HTTP ports where nothing listens (refused at once), a third are HTTP
// trackers that take the request and never answer, and a third are UDP
// ports that read every packet and never answer. By default every magnet
// carries the same trackers (a public tracker list pasted into each);
// -distinct gives each magnet its own URLs (paths) on the same ports.
//
// Run it in a private network namespace, as bench/run-trackerscale does;
// it refuses to run if an interface other than lo is up. It ends by itself
// after the adds and -observe.
package main

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
)

type options struct {
	magnets, trackers int
	distinct          bool
	engine            string
	observe           time.Duration
	cpuProfile        string
	goroutineProfile  string
	logFile           string
	limit             time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.magnets, "magnets", 80, "magnets to add")
	flag.IntVar(&o.trackers, "trackers", 200, "trackers per magnet (the API's maximum is 200)")
	flag.BoolVar(&o.distinct, "distinct", false, "give each magnet its own tracker URLs (on the same ports) instead of one shared list")
	flag.StringVar(&o.engine, "engine", "", "engine core: native (default) or anacrolix")
	flag.DurationVar(&o.observe, "observe", 20*time.Second, "how long to keep measuring after the last add")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run here")
	flag.StringVar(&o.goroutineProfile, "goroutineprofile", "", "write a goroutine profile at the end of the adds here")
	flag.StringVar(&o.logFile, "log", "", "write the daemon's log here (default: discarded)")
	flag.DurationVar(&o.limit, "limit", 10*time.Minute, "give up adding after this long")
	flag.Parse()
	if err := loopbackOnly(); err != nil {
		fmt.Fprintln(os.Stderr, "trackerscale:", err)
		os.Exit(2)
	}
	rep, err := run(o)
	if rep != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Println(string(b))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trackerscale:", err)
		os.Exit(1)
	}
}

// loopbackOnly refuses to run where any interface but lo is up.
func loopbackOnly() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("interface %s is up: run in a private network namespace (bench/run-trackerscale)", i.Name)
		}
	}
	return nil
}

type report struct {
	Engine   string `json:"engine"`
	Magnets  int    `json:"magnets"`
	Trackers int    `json:"trackers_per_magnet"`
	Distinct bool   `json:"distinct_urls"`

	AddSeconds    float64 `json:"add_seconds"`
	AddMaxMs      float64 `json:"add_max_ms"`
	StatsCalls    int     `json:"session_stats_calls"`
	StatsMaxMs    float64 `json:"session_stats_max_ms"`
	StatsMaxAddMs float64 `json:"session_stats_max_during_adds_ms"`

	BaseGoroutines int     `json:"goroutines_before"`
	PeakGoroutines int     `json:"goroutines_peak"`
	BaseFDs        int     `json:"open_files_before"`
	PeakFDs        int     `json:"open_files_peak"`
	BaseRSSMiB     float64 `json:"rss_before_mib"`
	PeakRSSMiB     float64 `json:"rss_peak_mib"`
	PeakHeapMiB    float64 `json:"heap_inuse_peak_mib"`

	SlowHTTPConns int64   `json:"slow_http_connections"`
	UDPPackets    int64   `json:"udp_packets"`
	EndSeconds    float64 `json:"stop_seconds"`
}

func run(o options) (*report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.limit)
	defer cancel()
	dir, err := os.MkdirTemp("", "trackerscale-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	tr, err := startTrackers(ctx)
	if err != nil {
		return nil, err
	}
	defer tr.close()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	logOut := io.Discard
	if o.logFile != "" {
		f, err := os.Create(o.logFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logOut = f
	}
	token := "trackerscale-token-0123456789"
	cfg := daemon.Config{
		APIAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0",
		DataDir: filepath.Join(dir, "data"), DownloadDir: filepath.Join(dir, "dl"),
		Token: token, AllowPrivateTrackers: true, Engine: o.engine,
		Logger: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	d, err := daemon.New(cfg)
	if err != nil {
		return nil, err
	}
	dctx, dstop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(dctx) }()
	stopDaemon := func() error {
		dstop()
		select {
		case err := <-runErr:
			return err
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("daemon did not stop within 2 minutes")
		}
	}
	stopped := false
	defer func() {
		if !stopped {
			stopDaemon()
		}
	}()
	wsURL := "ws://" + d.APIAddr() + "/ws"
	adder, err := client.Dial(ctx, wsURL, token)
	if err != nil {
		return nil, err
	}
	defer adder.Close()
	poller, err := client.Dial(ctx, wsURL, token)
	if err != nil {
		return nil, err
	}
	defer poller.Close()

	rep := &report{Engine: o.engine, Magnets: o.magnets, Trackers: o.trackers, Distinct: o.distinct}
	if rep.Engine == "" {
		rep.Engine = "native"
	}
	rep.BaseGoroutines = runtime.NumGoroutine()
	rep.BaseFDs = openFiles()
	rep.BaseRSSMiB = mib(rssBytes())

	// Sample the process every 50 ms.
	var peakG, peakFD atomic.Int64
	var peakRSS, peakHeap atomic.Int64
	sampleDone := make(chan struct{})
	sctx, sstop := context.WithCancel(ctx)
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		n := 0
		for {
			maxTo(&peakG, int64(runtime.NumGoroutine()))
			maxTo(&peakFD, int64(openFiles()))
			maxTo(&peakRSS, rssBytes())
			if n%10 == 0 { // ReadMemStats stops the world: not too often
				runtime.ReadMemStats(&ms)
				maxTo(&peakHeap, int64(ms.HeapInuse))
			}
			n++
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// session.stats in a loop on its own connection: the worst latency
	// is how long another API call can stall.
	var adding atomic.Bool
	adding.Store(true)
	var statsMax, statsMaxAdd atomic.Int64
	var calls atomic.Int64
	pollDone := make(chan error, 1)
	go func() {
		for sctx.Err() == nil {
			t0 := time.Now()
			_, err := poller.SessionStats(sctx)
			if err != nil {
				if sctx.Err() != nil {
					break
				}
				pollDone <- fmt.Errorf("session.stats: %w", err)
				return
			}
			d := int64(time.Since(t0))
			calls.Add(1)
			maxTo(&statsMax, d)
			if adding.Load() {
				maxTo(&statsMaxAdd, d)
			}
			select {
			case <-sctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		pollDone <- nil
	}()

	t0 := time.Now()
	var addMax time.Duration
	var addErr error
	for i := range o.magnets {
		m := magnet(i, tr.urls(i, o.trackers, o.distinct))
		a0 := time.Now()
		if _, err := adder.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: m}); err != nil {
			addErr = fmt.Errorf("add magnet %d: %w", i, err)
			break
		}
		addMax = max(addMax, time.Since(a0))
		if (i+1)%10 == 0 {
			fmt.Fprintf(os.Stderr, "trackerscale: %d magnets added in %.1f s, %d goroutines\n", i+1, time.Since(t0).Seconds(), runtime.NumGoroutine())
		}
	}
	rep.AddSeconds = time.Since(t0).Seconds()
	rep.AddMaxMs = ms(addMax)
	adding.Store(false)
	if o.goroutineProfile != "" {
		if f, err := os.Create(o.goroutineProfile); err == nil {
			pprof.Lookup("goroutine").WriteTo(f, 1)
			f.Close()
		}
	}
	if addErr == nil {
		select {
		case <-time.After(o.observe):
		case <-ctx.Done():
		}
	}
	sstop()
	<-sampleDone
	pollErr := <-pollDone
	rep.StatsCalls = int(calls.Load())
	rep.StatsMaxMs = ms(time.Duration(statsMax.Load()))
	rep.StatsMaxAddMs = ms(time.Duration(statsMaxAdd.Load()))
	rep.PeakGoroutines = int(peakG.Load())
	rep.PeakFDs = int(peakFD.Load())
	rep.PeakRSSMiB = mib(peakRSS.Load())
	rep.PeakHeapMiB = mib(peakHeap.Load())
	rep.SlowHTTPConns = tr.slowConns.Load()
	rep.UDPPackets = tr.udpPackets.Load()
	adder.Close()
	poller.Close()
	e0 := time.Now()
	stopped = true
	stopErr := stopDaemon()
	rep.EndSeconds = time.Since(e0).Seconds()
	return rep, errors.Join(addErr, pollErr, stopErr)
}

// magnet returns the i-th magnet (a made-up info-hash) with trackers.
func magnet(i int, trackers []string) string {
	ih := sha1.Sum([]byte("trackerscale " + strconv.Itoa(i)))
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:" + hex.EncodeToString(ih[:]) + "&dn=m" + strconv.Itoa(i))
	for _, u := range trackers {
		b.WriteString("&tr=" + url.QueryEscape(u))
	}
	return b.String()
}

// trackers are the useless trackers: ports where nothing listens, HTTP
// listeners that never answer and UDP sockets that never answer.
type trackers struct {
	refused, slow, silent []int // ports
	lns                   []net.Listener
	pcs                   []net.PacketConn
	wg                    sync.WaitGroup
	mu                    sync.Mutex
	conns                 []net.Conn
	slowConns, udpPackets atomic.Int64
}

const portsPerKind = 4

func startTrackers(ctx context.Context) (*trackers, error) {
	tr := &trackers{}
	for range portsPerKind {
		// A port where nothing listens: bind one, note it, close it.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		tr.refused = append(tr.refused, ln.Addr().(*net.TCPAddr).Port)
		ln.Close()

		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tr.close()
			return nil, err
		}
		tr.lns = append(tr.lns, ln)
		tr.slow = append(tr.slow, ln.Addr().(*net.TCPAddr).Port)
		tr.wg.Go(func() { tr.hold(ln) })

		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tr.close()
			return nil, err
		}
		tr.pcs = append(tr.pcs, pc)
		tr.silent = append(tr.silent, pc.LocalAddr().(*net.UDPAddr).Port)
		tr.wg.Go(func() {
			b := make([]byte, 2048)
			for {
				if _, _, err := pc.ReadFrom(b); err != nil {
					return
				}
				tr.udpPackets.Add(1)
			}
		})
	}
	return tr, nil
}

// hold accepts connections, reads the requests and never answers; the
// connections stay open until close.
func (tr *trackers) hold(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tr.slowConns.Add(1)
		tr.mu.Lock()
		tr.conns = append(tr.conns, c)
		tr.mu.Unlock()
		tr.wg.Go(func() {
			r := bufio.NewReader(c)
			io.Copy(io.Discard, r) // until the client gives up
			c.Close()
		})
	}
}

func (tr *trackers) close() {
	for _, ln := range tr.lns {
		ln.Close()
	}
	for _, pc := range tr.pcs {
		pc.Close()
	}
	tr.mu.Lock()
	for _, c := range tr.conns {
		c.Close()
	}
	tr.mu.Unlock()
	tr.wg.Wait()
}

// urls returns n tracker URLs for magnet i, spread over the three kinds.
func (tr *trackers) urls(i, n int, distinct bool) []string {
	tag := ""
	if distinct {
		tag = "m" + strconv.Itoa(i) + "-"
	}
	out := make([]string, 0, n)
	for k := range n {
		port := 0
		scheme := "http"
		switch k % 3 {
		case 0:
			port = tr.refused[k%portsPerKind]
		case 1:
			port = tr.slow[k%portsPerKind]
		case 2:
			port, scheme = tr.silent[k%portsPerKind], "udp"
		}
		out = append(out, fmt.Sprintf("%s://127.0.0.1:%d/%s%d/announce", scheme, port, tag, k))
	}
	return out
}

func maxTo(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
func mib(b int64) float64        { return float64(b) / (1 << 20) }
