//go:build linux

package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Faults of the swarm and of API clients: a seeder that goes away in the
// middle of a download and comes back, and clients that stop reading
// their events.

// The only seeder disappears mid-download; the task waits without error.
// The seeder comes back on a new port: it announces to the tracker, learns
// the daemon's address and connects. The download resumes by itself and
// finishes with every byte right.
func TestSeederComesBack(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	// The tracker lists the daemon: a seeder that announces learns where
	// the leecher is (the daemon itself re-announces only every minute or
	// more, so it is the returning seeder that dials).
	tracker := enginetest.StartTracker(t, peerAddr(t, d))
	tr := enginetest.Generate(t, enginetest.Content{Name: "comeback.bin", Size: 12<<20 + 321, Seed: 400, Trackers: []string{tracker.URL}})
	first := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 2 << 20}, tr)

	res := addMagnet(t, c, tr.Magnet([]string{first.Addr}))
	waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	// Mid-download: at least 2 MiB (the seeder sends 2 MiB/s).
	waitTask(t, c, res.TaskID, "2 MiB downloaded", 60*time.Second, func(task api.Task) bool { return task.Completed >= 2<<20 })
	first.Close()
	goneAt := time.Now()
	task := waitTask(t, c, res.TaskID, "the daemon to see the seeder gone", 30*time.Second, func(task api.Task) bool { return task.Peers == 0 })
	if task.State != api.StateDownloading || task.Completed >= task.Size {
		t.Fatalf("with the seeder gone: %+v, want downloading, incomplete", task)
	}
	t.Logf("seeder gone at %d of %d bytes; the daemon saw it %v later", task.Completed, task.Size, time.Since(goneAt).Round(time.Millisecond))
	// Without a peer the task just waits: no error. Letting time pass is
	// the test.
	time.Sleep(time.Second)
	if again := stateOf(t, c, res.TaskID); again.State != api.StateDownloading || again.Error != "" || again.Peers != 0 {
		t.Fatalf("without a seeder: %+v, want downloading, no peer, no error", again)
	}

	backAt := time.Now()
	second := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	// The engine's announce dispatcher can miss the wakeup of a torrent
	// added just after its client starts (a lost timer reset in
	// anacrolix/torrent v1.62.0): a second torrent added now wakes it.
	second.Seed(t, enginetest.Generate(t, enginetest.Content{Name: "poke.bin", Size: 1000, Seed: 401, Trackers: []string{tracker.URL}}))
	t.Logf("seeder back at %s (was %s)", second.Addr, first.Addr)
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	t.Logf("finished %v after the seeder came back", time.Since(backAt).Round(time.Millisecond))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	if task := stateOf(t, c, res.TaskID); task.State != api.StateSeeding || task.Error != "" {
		t.Errorf("after the finish: %+v, want seeding", task)
	}
}

// Slow consumers: 100 WebSocket clients subscribe to the events while
// tasks are added, paused, resumed and removed at full speed. 80 read
// everything: each gets every logged event, in order, without a gap (the
// same sequence events.replay gives afterwards). 20 read nothing until the
// daemon has certainly given up on them (their sockets full, then more
// than a queue's worth of events published), then everything that reached
// them: a gap-free prefix of the events, then close code 1008 ("event
// queue overflow"). The other clients and the API go on, and the heap
// stays bounded.
//
// A client that never reads cannot see that close frame while its socket
// is full: the daemon sends it once the client reads again, unless its
// blocked write has timed out (10 s) by then; then it has dropped the
// connection without one. Where the queue takes that long to fill (a
// loaded machine under the race detector), the daemon's socket is seen to
// leave ESTABLISHED before the client wakes, and only then is a closure
// without a close frame accepted (and counted in the log).
func TestSlowConsumersAreCutOff(t *testing.T) {
	const (
		fastClients  = 80
		stuckClients = 20
		tasks        = 60
		minRounds    = 5 // pause+resume of every task per round
		maxRounds    = 200
		workers      = 8
	)
	// The data dir is on a tmpfs when there is one: this test is about
	// fan-out, and on a disk every logged event costs two fsyncs.
	dirs := daemontest.NewDirs(t)
	if shm, err := os.MkdirTemp("/dev/shm", "lodestone-test-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		dirs.Data = filepath.Join(shm, "data")
	}
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	ctl := d.Client(t)
	go func() {
		for range ctl.Events() { // the controller's own events: not checked
		}
	}()

	var peakHeap atomic.Uint64
	stopSampling := sampleHeap(&peakHeap)
	defer stopSampling()

	info, err := ctl.ServerInfo(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	startID := seq(t, info.LastEventID)
	hash := func(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
	magnet := func(id, name string) string { return "magnet:?xt=urn:btih:" + id + "&dn=" + name }
	startMarker, endMarker := hash("slow-consumers-start"), hash("slow-consumers-end")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fast := make([]*eventReader, fastClients)
	for i := range fast {
		fast[i] = dialReader(t, d.APIAddr(), nil)
		fast[i].shared = i == 0 // watchStuck reads its frame sizes
		go fast[i].readUntil(ctx, startMarker, endMarker)
	}
	// A stuck client also keeps its socket buffers small (SO_RCVBUF, and a
	// small MSS, which sizes the daemon's send buffer): otherwise up to
	// ~4 MB of loopback socket buffers absorb what it does not read before
	// the daemon's queue even starts to fill.
	stuck := make([]*eventReader, stuckClients)
	var wg sync.WaitGroup
	for i := range stuck {
		r := dialReader(t, d.APIAddr(), smallSocket)
		r.shared = true
		stuck[i] = r
		wg.Go(func() {
			select {
			case <-r.wake:
			case <-ctx.Done():
			}
			r.readUntil(ctx, "", "")
		})
	}
	_, apiPort, err := net.SplitHostPort(d.APIAddr())
	if err != nil {
		t.Fatal(err)
	}

	// published counts the requests answered, each after its event was
	// published: a lower bound of the events published, by at most the
	// requests in flight.
	var published atomic.Int64
	add := func(id, name string) {
		if _, err := ctl.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: magnet(id, name), Paused: true}); err != nil {
			t.Errorf("task.add %s: %v", name, err)
		}
		published.Add(1)
	}
	add(startMarker, "start")
	for _, r := range fast {
		select {
		case <-r.started:
		case <-ctx.Done():
			t.Fatal("a fast client never saw the start marker")
		}
	}
	woken := make(chan struct{})
	wg.Go(func() {
		defer close(woken)
		watchStuck(ctx, t, apiPort, stuck, fast[0], &published)
	})

	// The churn: add, pause/resume until every stuck client is woken,
	// remove; workers in parallel.
	churnStart := time.Now()
	ids := make([]string, tasks)
	for i := range ids {
		ids[i] = hash(fmt.Sprint("slow-consumers-", i))
	}
	parallel := func(fn func(id string)) {
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(ids); i += workers {
					fn(ids[i])
				}
			})
		}
		wg.Wait()
	}
	parallel(func(id string) { add(id, "churn-"+id[:8]) })
	rounds := 0
	for ; rounds < minRounds || (!isClosed(woken) && rounds < maxRounds); rounds++ {
		parallel(func(id string) {
			if err := ctl.ResumeTask(ctx, id); err != nil {
				t.Errorf("task.resume: %v", err)
			}
			published.Add(1)
			if err := ctl.PauseTask(ctx, id); err != nil {
				t.Errorf("task.pause: %v", err)
			}
			published.Add(1)
		})
	}
	parallel(func(id string) {
		if err := ctl.RemoveTask(ctx, id, false); err != nil {
			t.Errorf("task.remove: %v", err)
		}
		published.Add(1)
	})
	add(endMarker, "end")
	churn := time.Since(churnStart)

	for _, r := range fast {
		select {
		case <-r.done:
		case <-ctx.Done():
			t.Fatal("a fast client never saw the end marker")
		}
	}
	wg.Wait()

	// The truth: the durable event log.
	var truth []uint64
	names := map[string]int{}
	for _, ev := range replayAll(t, d) {
		if id := seq(t, ev.ID); id > startID {
			truth = append(truth, id)
			names[ev.Name]++
		}
	}
	if want := tasks + 2; names[api.EventTaskAdded] != want || names[api.EventTaskRemoved] != tasks || names[api.EventTaskState] != 2*tasks*rounds {
		t.Errorf("logged events %v: want %d task.added, %d task.removed, %d task.state", names, want, tasks, 2*tasks*rounds)
	}
	var frames, bytesIn int
	for i, r := range fast {
		if r.err != nil || r.closeCode != 0 {
			t.Errorf("fast client %d: %v (close code %d)", i, r.err, r.closeCode)
		}
		if !slices.Equal(r.ids, truth) {
			t.Fatalf("fast client %d got %d events, want the %d logged ones in order: %s", i, len(r.ids), len(truth), firstDiff(r.ids, truth))
		}
		frames += len(r.ids)
		bytesIn += r.bytes
	}
	var cutAt []int
	dropped := 0
	for i, r := range stuck {
		switch {
		case r.closeCode == 1008 && strings.Contains(r.closeReason, "event queue overflow"):
		case r.droppedFirst && r.closeCode == 0 && r.err != nil:
			dropped++ // the daemon's write timed out before the client woke
		default:
			t.Errorf("stuck client %d ended after %d events with close code %d %q (%v), want 1008 event queue overflow",
				i, len(r.ids), r.closeCode, r.closeReason, r.err)
			continue
		}
		if len(r.ids) == 0 || len(r.ids) >= len(truth) || !slices.Equal(r.ids, truth[:len(r.ids)]) {
			t.Errorf("stuck client %d: its %d events are not a gap-free prefix of the %d logged: %s", i, len(r.ids), len(truth), firstDiff(r.ids, truth))
			continue
		}
		cutAt = append(cutAt, len(r.ids))
	}
	if _, err := ctl.ServerInfo(ctxT(t, 10*time.Second)); err != nil {
		t.Errorf("server.info after the churn: %v", err)
	}
	stopSampling()
	peak := peakHeap.Load()
	slices.Sort(cutAt)
	t.Logf("%d logged events in %v (%.0f/s); %d fast clients got them all: %d frames, %.1f MiB",
		len(truth), churn.Round(time.Millisecond), float64(len(truth))/churn.Seconds(), fastClients, frames, float64(bytesIn)/(1<<20))
	if len(cutAt) > 0 {
		t.Logf("%d stuck clients cut off after %d..%d events: %d with close code 1008, %d dropped by the write timeout before they woke",
			len(cutAt), cutAt[0], cutAt[len(cutAt)-1], len(cutAt)-dropped, dropped)
	}
	t.Logf("peak HeapInuse of the test process (daemon and all clients): %.1f MiB", float64(peak)/(1<<20))
	if peak > 512<<20 {
		t.Errorf("peak HeapInuse %d MiB, want < 512 MiB", peak>>20)
	}
}

// eventReader is a minimal WebSocket client (RFC 6455, client side:
// handshake, short masked requests, unmasked server frames, pong, close)
// that records the ids of the events it reads. It is hand-rolled to be cheap: 80 of them read
// every event, and under the race detector a full WebSocket library per
// frame would limit how fast the test can publish.
type eventReader struct {
	conn    net.Conn
	br      *bufio.Reader
	port    string        // local TCP port
	started chan struct{} // closed when the start marker arrives
	done    chan struct{} // closed when reading stops
	wake    chan struct{} // closed by watchStuck
	// droppedFirst: the daemon had closed its side of the connection when
	// watchStuck woke the reader; set before wake is closed.
	droppedFirst bool

	// shared: other goroutines read the fields below while it runs, under
	// mu; otherwise only after done is closed (cheaper: the race detector
	// makes every lock costly).
	shared bool
	mu     sync.Mutex
	ids    []uint64
	sizes  []int // frame sizes, as ids
	bytes  int
	// closeCode and closeReason are the server's close frame, if one came;
	// err is why reading stopped otherwise.
	closeCode   int
	closeReason string
	err         error

	buf []byte // the frame being read
}

// dialReader connects to the daemon's API at addr with the test token;
// control, if set, adjusts the socket before it connects.
func dialReader(t *testing.T, addr string, control func(network, address string, c syscall.RawConn) error) *eventReader {
	t.Helper()
	dialer := &net.Dialer{Control: control, Timeout: 10 * time.Second}
	conn, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	rand.Read(key)
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+api.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(key))
	req.Header.Set("Authorization", "Bearer "+daemontest.Token)
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := req.Write(conn); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_, port, err := net.SplitHostPort(conn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := &eventReader{conn: conn, br: br, port: port, started: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{})}
	// One request answered: the daemon subscribes a connection before it
	// reads from it, so from now on it gets every event.
	if err := r.write([]byte(`{"id":"sync","method":"server.info"}`)); err != nil {
		t.Fatalf("server.info: %v", err)
	}
	for {
		frame, ok := r.frame()
		if !ok {
			t.Fatalf("server.info: connection ended: %d %v", r.closeCode, r.err)
		}
		if bytes.HasPrefix(frame, []byte(`{"id":"sync","error":0`)) {
			break
		}
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	return r
}

// write sends a text frame, masked as a client must.
func (r *eventReader) write(payload []byte) error {
	if len(payload) > 125 {
		return fmt.Errorf("frame of %d bytes: only short frames are supported", len(payload))
	}
	var mask [4]byte
	rand.Read(mask[:])
	frame := append([]byte{0x81, 0x80 | byte(len(payload))}, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := r.conn.Write(frame)
	return err
}

// frame reads the next message: a text frame's payload (valid until the
// next call), answering pings on the way. It returns false when the
// connection ended: by a close frame (closeCode) or an error (err).
func (r *eventReader) frame() ([]byte, bool) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			r.fail(0, "", err)
			return nil, false
		}
		op, n := h[0]&0x0f, uint64(h[1]&0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(r.br, ext[:]); err != nil {
				r.fail(0, "", err)
				return nil, false
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(r.br, ext[:]); err != nil {
				r.fail(0, "", err)
				return nil, false
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if h[0]&0x80 == 0 || h[1]&0x80 != 0 || n > 1<<20 {
			r.fail(0, "", fmt.Errorf("unexpected frame header %x, length %d", h, n))
			return nil, false
		}
		r.buf = slices.Grow(r.buf[:0], int(n))[:n]
		if _, err := io.ReadFull(r.br, r.buf); err != nil {
			r.fail(0, "", err)
			return nil, false
		}
		switch op {
		case 1: // text
			return r.buf, true
		case 8: // close
			code, reason := 1005, ""
			if len(r.buf) >= 2 {
				code, reason = int(binary.BigEndian.Uint16(r.buf)), string(r.buf[2:])
			}
			r.fail(code, reason, nil)
			return nil, false
		case 9: // ping: answer with a pong, masked with a zero key
			pong := append([]byte{0x8a, 0x80 | byte(len(r.buf)), 0, 0, 0, 0}, r.buf...)
			if _, err := r.conn.Write(pong); err != nil {
				r.fail(0, "", err)
				return nil, false
			}
		}
	}
}

func (r *eventReader) fail(code int, reason string, err error) {
	r.lock()
	r.closeCode, r.closeReason, r.err = code, reason, err
	r.unlock()
}

// readOne reads a frame and records it when it is an event and record
// says so. It returns the frame (valid until the next call), or false when
// the connection ended.
func (r *eventReader) readOne(record func(name string, frame []byte) bool) ([]byte, string, bool) {
	frame, ok := r.frame()
	if !ok {
		return nil, "", false
	}
	id, name, ok := eventHead(frame)
	if ok && record(name, frame) {
		r.lock()
		r.ids = append(r.ids, id)
		r.sizes = append(r.sizes, len(frame))
		r.bytes += len(frame)
		r.unlock()
	}
	return frame, name, true
}

func (r *eventReader) lock() {
	if r.shared {
		r.mu.Lock()
	}
}

func (r *eventReader) unlock() {
	if r.shared {
		r.mu.Unlock()
	}
}

// readUntil reads events until the connection ends or the task.added
// event of task endID arrives ("" reads until the end), recording from the
// task.added of startID on ("" records all). It closes done. Cancelling
// ctx ends a read in progress.
func (r *eventReader) readUntil(ctx context.Context, startID, endID string) {
	defer close(r.done)
	stop := context.AfterFunc(ctx, func() { r.conn.SetReadDeadline(time.Now()) })
	defer stop()
	recording := startID == ""
	for {
		frame, name, ok := r.readOne(func(name string, frame []byte) bool {
			if !recording && name == api.EventTaskAdded && bytes.Contains(frame, []byte(startID)) {
				recording = true
				close(r.started)
			}
			return recording
		})
		if !ok {
			return
		}
		if endID != "" && name == api.EventTaskAdded && bytes.Contains(frame, []byte(endID)) {
			return
		}
	}
}

// count returns how many events r has recorded.
func (r *eventReader) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// sizesFrom returns the sizes of the recorded frames from index from on.
func (r *eventReader) sizesFrom(from int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from >= len(r.sizes) {
		return nil
	}
	return slices.Clone(r.sizes[from:])
}

// eventHead reads the id and name of an event frame, which the daemon
// encodes as {"id":"…","name":"…","data":…}, without decoding the rest.
func eventHead(frame []byte) (id uint64, name string, ok bool) {
	rest, ok := bytes.CutPrefix(frame, []byte(`{"id":"`))
	if !ok {
		return 0, "", false
	}
	idText, rest, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return 0, "", false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"name":"`)); !ok {
		return 0, "", false
	}
	nameText, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return 0, "", false
	}
	id, err := strconv.ParseUint(string(idText), 10, 64)
	return id, string(nameText), err == nil
}

// watchStuck closes the wake channel of each stuck reader once the daemon
// has certainly given up on it, and returns when all are woken. It has
// when its side of the connection is no longer ESTABLISHED (droppedFirst),
// or when the reader's event queue has overflowed: a subscriber is cut off
// when an event finds 1024 queued for it. Of the events published (at
// least published, less the requests in flight), the reader has read
// some; the kernel holds the next ones (the daemon's send queue and the
// reader's receive queue, from /proc/net/tcp, plus a margin); the daemon's
// writer holds one; the rest are queued. Which frames the kernel's bytes
// are is known from ref, a reader that reads everything; frames it has not
// read yet count as minFrame bytes, so that more fit (the safe side).
func watchStuck(ctx context.Context, t *testing.T, apiPort string, stuck []*eventReader, ref *eventReader, published *atomic.Int64) {
	const (
		queueLen   = 1024
		inFlight   = 16      // requests of the churn, answered late
		readBuffer = 4 << 10 // margin: a stuck reader reads nothing before it wakes
		minFrame   = 64
	)
	left := len(stuck)
	woken := make([]bool, len(stuck))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for left > 0 {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sent := published.Load() - inFlight
		queues, err := tcpQueues()
		if err != nil {
			t.Errorf("read the socket queues: %v", err)
			for i, r := range stuck {
				if !woken[i] {
					close(r.wake)
				}
			}
			return
		}
		for i, r := range stuck {
			if woken[i] {
				continue
			}
			daemonSide, ok := queues[apiPort+">"+r.port]
			if !ok || daemonSide.state != tcpEstablished {
				woken[i] = true
				left--
				r.droppedFirst = true
				close(r.wake)
				continue
			}
			n := r.count()
			held := daemonSide.tx + queues[r.port+">"+apiPort].rx + readBuffer
			frames := int64(1) // in the daemon's writer
			for _, size := range ref.sizesFrom(n) {
				if held <= 0 {
					break
				}
				held -= int64(size)
				frames++
			}
			frames += max(0, held) / minFrame
			if sent-int64(n)-frames > queueLen {
				woken[i] = true
				left--
				close(r.wake)
			}
		}
	}
}

// tcpQueue is a socket's state and its send (unacknowledged) and receive
// queues, in bytes.
type tcpQueue struct {
	state  string // as in /proc/net/tcp: hex
	tx, rx int64
}

// tcpEstablished is the ESTABLISHED state in /proc/net/tcp.
const tcpEstablished = "01"

// tcpQueues reads the IPv4 TCP sockets of this network namespace, keyed
// "localport>remoteport" (decimal).
func tcpQueues() (map[string]tcpQueue, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return nil, err
	}
	// hexPair splits "a:b" and parses both halves as hex numbers.
	hexPair := func(s string) (a, b int64, err error) {
		as, bs, ok := strings.Cut(s, ":")
		if !ok {
			return 0, 0, fmt.Errorf("/proc/net/tcp: %q is not a pair", s)
		}
		if a, err = strconv.ParseInt(as, 16, 64); err == nil {
			b, err = strconv.ParseInt(bs, 16, 64)
		}
		return a, b, err
	}
	out := map[string]tcpQueue{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		_, local, err := hexPair(f[1])
		if err != nil {
			return nil, err
		}
		_, remote, err := hexPair(f[2])
		if err != nil {
			return nil, err
		}
		tx, rx, err := hexPair(f[4])
		if err != nil {
			return nil, err
		}
		out[fmt.Sprintf("%d>%d", local, remote)] = tcpQueue{f[3], tx, rx}
	}
	return out, nil
}

// isClosed reports whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// smallSocket shrinks a client socket's receive buffer and its MSS (which
// the daemon's side sizes its send buffer by) before it connects.
func smallSocket(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// sampleHeap records the peak runtime HeapInuse into peak every 20 ms
// until the returned function is called (safe to call more than once).
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		<-finished
	}
}

// firstDiff describes where two id sequences first differ.
func firstDiff(got, want []uint64) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: got id %d, want %d", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}
