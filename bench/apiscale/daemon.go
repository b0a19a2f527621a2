package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a daemon (or aria2) child process.
type proc struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}
	err   error
}

func startProc(logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p := &proc{cmd: cmd, done: make(chan struct{}), start: time.Now()}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM and waits up to wait, then kills; it returns how long
// the process took to exit.
func (p *proc) stop(wait time.Duration) time.Duration {
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.cmd.Process.Kill()
		<-p.done
	}
	return time.Since(t0)
}

// rssBytes reads VmRSS of pid.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
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

// cpuTime reads the user+system CPU time of pid.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lodestone describes how the daemon is started.
type lodestone struct {
	bin, dataDir, dlDir, token, pprofAddr string
	port                                  int
	log                                   string
}

func (l *lodestone) url() string { return fmt.Sprintf("ws://127.0.0.1:%d/ws", l.port) }

func (l *lodestone) start() (*proc, error) {
	args := []string{"serve",
		"--api-addr", "127.0.0.1:" + strconv.Itoa(l.port),
		"--data-dir", l.dataDir, "--download-dir", l.dlDir,
		"--peer-addr", "127.0.0.1:0",
		"--dht=false", "--upnp=false", "--utp=false",
		"--token", l.token, "--log-level", "warn"}
	if l.pprofAddr != "" {
		args = append(args, "--pprof-addr", l.pprofAddr)
	}
	return startProc(l.log, l.bin, args...)
}

// waitServing dials until a server.info request succeeds; it returns the
// time from the process start.
func (l *lodestone) waitServing(ctx context.Context, p *proc, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return 0, fmt.Errorf("daemon exited: %v (see %s)", p.err, l.log)
		default:
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := dial(dctx, l.url(), l.token)
		if err == nil {
			_, err = c.call(dctx, 0, []byte(`{"id":"0","method":"server.info"}`))
			c.close()
			if err == nil {
				cancel()
				return time.Since(p.start), nil
			}
		}
		cancel()
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("daemon not serving after %v (see %s)", limit, l.log)
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func join(a ...string) string { return filepath.Join(a...) }
