package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a started child process in its own process group, so that
// stopping it also stops whatever it spawned (hook scripts). With
// Pdeathsig it dies if the benchmark dies.
type proc struct {
	name   string
	cmd    *exec.Cmd
	start  time.Time     // just before exec
	exited chan struct{} // closed once Wait returned
	lines  chan string   // stdout lines, if asked for
	stdin  *os.File      // write end of its stdin, if asked for
}

type procOpts struct {
	name    string
	path    string
	args    []string
	env     []string // added to the environment
	logPath string   // stdout and stderr are appended here
	// lines: stdout is delivered line by line on proc.lines (and stderr
	// still goes to logPath).
	lines bool
	// stdin: proc.stdin is a pipe to the child's stdin.
	stdin bool
	// cpus, if set, pins the process to these CPUs (taskset -c).
	cpus string
}

func startProc(o procOpts) (*proc, error) {
	logf, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(o.path, o.args...)
	if o.cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", o.cpus, o.path}, o.args...)...)
	}
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: o.name, cmd: cmd, exited: make(chan struct{})}

	// Plain pipes (not exec's StdoutPipe) so that Wait never waits on a
	// reader.
	var outR, outW, inR *os.File
	if o.lines {
		if outR, outW, err = os.Pipe(); err != nil {
			return nil, err
		}
		cmd.Stdout = outW
		defer outW.Close()
	}
	if o.stdin {
		if inR, p.stdin, err = os.Pipe(); err != nil {
			return nil, err
		}
		cmd.Stdin = inR
		defer inR.Close()
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		if outR != nil {
			outR.Close()
		}
		if p.stdin != nil {
			p.stdin.Close()
		}
		return nil, fmt.Errorf("start %s: %w", o.name, err)
	}
	if o.lines {
		p.lines = make(chan string, 1024)
		copyLog, _ := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		go func() {
			defer close(p.lines)
			defer outR.Close()
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				if copyLog != nil {
					fmt.Fprintln(copyLog, sc.Text())
				}
				select {
				case p.lines <- sc.Text():
				default: // nobody reads: drop
				}
			}
			if copyLog != nil {
				copyLog.Close()
			}
		}()
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// signalGroup signals the process group (the child and what it spawned).
func (p *proc) signalGroup(sig syscall.Signal) {
	syscall.Kill(-p.cmd.Process.Pid, sig)
}

// stop asks the process to end (SIGTERM), kills its group after grace,
// and waits for it. Safe to call more than once.
func (p *proc) stop(grace time.Duration) {
	select {
	case <-p.exited:
	default:
		p.signalGroup(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
		}
	}
	p.kill()
}

// kill kills the process group and waits for the process.
func (p *proc) kill() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	p.signalGroup(syscall.SIGKILL)
	<-p.exited
}

// waitExit waits up to d for the process to end by itself.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(d):
		return false
	}
}

// usage is the rusage of the ended process, which includes the children
// it waited for.
func (p *proc) usage() (user, sys time.Duration, maxRSSKiB int64) {
	st := p.cmd.ProcessState
	if st == nil {
		return 0, 0, 0
	}
	ru, ok := st.SysUsage().(*syscall.Rusage)
	if !ok {
		return st.UserTime(), st.SystemTime(), 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss
}

// exitStatus says how the process ended, for error messages.
func (p *proc) exitStatus() string {
	if p.cmd.ProcessState == nil {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// waitLine waits for a stdout line starting with prefix.
func (p *proc) waitLine(ctx context.Context, prefix string) (string, error) {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return "", fmt.Errorf("%s ended (%s) before printing %q", p.name, p.exitStatus(), prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l, nil
			}
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %q: %w", p.name, prefix, ctx.Err())
		}
	}
}

// waitFile polls for path every 5 ms (a hook script creates it) and
// returns when it appeared. It fails if the process ends first.
func (p *proc) waitFile(ctx context.Context, path string) (time.Time, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return time.Now(), nil
		}
		select {
		case <-t.C:
		case <-p.exited:
			if _, err := os.Stat(path); err == nil {
				return time.Now(), nil
			}
			return time.Time{}, fmt.Errorf("%s ended (%s) before finishing", p.name, p.exitStatus())
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// cpuTicks is utime+stime of a live process from /proc/PID/stat, in
// seconds (all its threads; not its children).
func cpuTicks(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}

// machineBusy is the machine's busy CPU time so far (all CPUs: user,
// nice, system, irq, softirq, steal), in seconds, from /proc/stat.
func machineBusy() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, errors.New("bad /proc/stat")
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, err
		}
		busy += n
	}
	return busy / 100, nil
}

// freePort returns a TCP port on 127.0.0.1 nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// listening reports whether something listens on TCP port (IPv4), from
// /proc/net/tcp, without connecting to it.
func listening(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}

// waitListening polls until port is listening.
func waitListening(ctx context.Context, p *proc, port int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !listening(port) {
		select {
		case <-t.C:
		case <-p.exited:
			return fmt.Errorf("%s ended (%s) before listening on %d", p.name, p.exitStatus(), port)
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for port %d: %w", p.name, port, ctx.Err())
		}
	}
	return nil
}
