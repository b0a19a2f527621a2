// Command nativeleech downloads one .torrent with Lodestone's native data
// path (internal/engine/native) and exits when every piece is verified and
// written. It is the benchmark's handle on the native core until the
// daemon can run on it (serve --engine native): bench/swarm runs it as
// the client "lodestone-native".
//
//	nativeleech -torrent FILE -dir DIR [-listen 127.0.0.1:0] [-buffer-mib 32] [-peer HOST:PORT]
//	nativeleech -seed -torrent FILE -dir DIR -listen 127.0.0.1:PORT
//
// It prints "done" on stdout when finished, then the torrent's stats.
// With -seed it checks the data in DIR first, prints "seeding" once every
// piece is verified, and seeds until stdin closes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/native"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "nativeleech:", err)
		os.Exit(1)
	}
}

func run() error {
	torrentPath := flag.String("torrent", "", "the .torrent file")
	dir := flag.String("dir", ".", "the download folder")
	listen := flag.String("listen", "127.0.0.1:0", "where peers may connect")
	bufMiB := flag.Int64("buffer-mib", 32, "piece buffers, MiB")
	buffered := flag.Bool("buffered", false, "write through the page cache instead of direct I/O")
	prealloc := flag.Bool("preallocate", true, "reserve file blocks at creation (fallocate)")
	seed := flag.Bool("seed", false, "check the data in -dir and seed it until stdin closes")
	peer := flag.String("peer", "", "a peer to connect to, besides the trackers'")
	verbose := flag.Bool("v", false, "debug logging")
	cpuProfile := flag.String("cpuprofile", os.Getenv("NATIVELEECH_CPUPROFILE"), "write a CPU profile of the download here (default $NATIVELEECH_CPUPROFILE)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	data, err := os.ReadFile(*torrentPath)
	if err != nil {
		return err
	}
	m, err := native.ParseTorrent(data, *dir)
	if err != nil {
		return err
	}
	c, err := native.New(native.Config{ListenAddr: *listen, BufferBytes: *bufMiB << 20, Preallocate: *prealloc, BufferedWrites: *buffered, Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	add := c.Add
	if *seed {
		add = c.AddPaused // announce only once verified
	}
	t, err := add(m)
	if err != nil {
		return err
	}
	if *peer != "" {
		ap, err := netip.ParseAddrPort(*peer)
		if err != nil {
			return fmt.Errorf("-peer: %w", err)
		}
		t.AddPeers([]netip.AddrPort{ap})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *seed {
		return seedUntilEOF(ctx, t)
	}
	if *verbose {
		go func() {
			start := time.Now()
			for range time.Tick(100 * time.Millisecond) {
				st := t.Stats()
				log.Debug("progress", "t", time.Since(start).Round(time.Millisecond), "have", st.Have, "peers", st.Peers, "downloaded", st.Downloaded, "buffers", st.BufferBytes)
			}
		}()
	}
	select {
	case <-t.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := t.Err(); err != nil {
		return err
	}
	fmt.Println("done")
	fmt.Printf("%+v\n", t.Stats())
	return nil
}

func seedUntilEOF(ctx context.Context, t *native.Torrent) error {
	had, err := t.Verify(ctx)
	if err != nil {
		return err
	}
	if st := t.Stats(); had != st.Pieces {
		return fmt.Errorf("only %d of %d pieces on disk", had, st.Pieces)
	}
	t.Resume()
	fmt.Println("seeding")
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	fmt.Printf("%+v\n", t.Stats())
	return nil
}
