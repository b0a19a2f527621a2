// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for a Type=notify unit: it tells the service manager that
// the daemon is ready (READY=1), that it is stopping (STOPPING=1), what it
// is doing (STATUS=), and, when the unit has WatchdogSec=, that it is
// still healthy (WATCHDOG=1).
//
// The protocol is one datagram of "KEY=value" lines sent to the unix
// socket named by $NOTIFY_SOCKET: a path, or an abstract name written
// with a leading '@'. It is small enough to speak here rather than
// through a library: this package reads the environment through a
// function it is given (no process-wide state, nothing to unset), sends
// every datagram with a deadline, and ties the watchdog to a health
// check, which a library's bare ping would not.
package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Environment variables systemd sets for a Type=notify service.
const (
	// EnvSocket names the socket notifications go to.
	EnvSocket = "NOTIFY_SOCKET"
	// EnvWatchdogUsec is the watchdog timeout in microseconds
	// (WatchdogSec=), unset when the unit has no watchdog.
	EnvWatchdogUsec = "WATCHDOG_USEC"
	// EnvWatchdogPID, when set, is the process the watchdog is meant for;
	// another process (a child that inherited the environment) ignores it.
	EnvWatchdogPID = "WATCHDOG_PID"
)

// sendTimeout bounds one datagram's send: systemd reads its notify socket
// promptly, and a manager that does not must not stall the daemon.
const sendTimeout = time.Second

// StatusInterval is how often Supervise refreshes STATUS= when the unit has
// no watchdog.
const StatusInterval = 10 * time.Second

// Notifier sends notifications to the service manager. A nil *Notifier
// (no $NOTIFY_SOCKET: not run by systemd as Type=notify) sends nothing, so
// callers need not check. Its methods may be called from any goroutine.
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration // 0: no watchdog
}

// New returns the Notifier the environment asks for, read through getenv
// (os.Getenv in main); pid is this process's id (os.Getpid()), compared
// with $WATCHDOG_PID. It returns nil and no error when $NOTIFY_SOCKET is
// unset, and an error when a variable cannot be used.
func New(getenv func(string) string, pid int) (*Notifier, error) {
	sock := getenv(EnvSocket)
	if sock == "" {
		return nil, nil
	}
	// An absolute path, or '@' for the abstract namespace, which Go's
	// net package maps to a leading NUL byte. systemd 253 and later also
	// offer "vsock:CID:PORT" to virtual machines; not a service's case.
	if !strings.HasPrefix(sock, "/") && !strings.HasPrefix(sock, "@") {
		return nil, fmt.Errorf("%s=%q: not an absolute path or an abstract socket name", EnvSocket, sock)
	}
	n := &Notifier{addr: &net.UnixAddr{Name: sock, Net: "unixgram"}}
	if v := getenv(EnvWatchdogUsec); v != "" {
		usec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || usec <= 0 {
			return nil, fmt.Errorf("%s=%q: not a positive number of microseconds", EnvWatchdogUsec, v)
		}
		n.watchdog = time.Duration(usec) * time.Microsecond
		if p := getenv(EnvWatchdogPID); p != "" {
			wpid, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("%s=%q: %w", EnvWatchdogPID, p, err)
			}
			if wpid != pid {
				n.watchdog = 0 // another process's watchdog
			}
		}
	}
	return n, nil
}

// Watchdog returns the watchdog timeout systemd enforces, 0 when the unit
// has none (or the Notifier is nil).
func (n *Notifier) Watchdog() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Send sends one notification of the given "KEY=value" fields. A value
// must not hold a newline (it would start another field): STATUS= values
// are cleaned by Status.
func (n *Notifier) Send(fields ...string) error {
	if n == nil || len(fields) == 0 {
		return nil
	}
	// A fresh socket per message, as sd_notify does: nothing to keep
	// open, and a restarted manager's new socket is found by name.
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer c.Close()
	if err := c.SetWriteDeadline(time.Now().Add(sendTimeout)); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	if _, err := c.Write([]byte(strings.Join(fields, "\n") + "\n")); err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Ready tells the manager that start-up is complete (READY=1), with a
// status line when status is not empty.
func (n *Notifier) Ready(status string) error {
	return n.Send(withStatus([]string{"READY=1"}, status)...)
}

// Stopping tells the manager that shutdown has begun (STOPPING=1).
func (n *Notifier) Stopping() error {
	return n.Send("STOPPING=1", "STATUS=stopping")
}

// Status sets the status line `systemctl status` shows.
func (n *Notifier) Status(status string) error {
	return n.Send(withStatus(nil, status)...)
}

// withStatus appends a STATUS= field to fields, its newlines made spaces.
func withStatus(fields []string, status string) []string {
	if status == "" {
		return fields
	}
	return append(fields, "STATUS="+strings.Join(strings.Fields(status), " "))
}

// Check reports the daemon's health: its status line, or an error when it
// is not healthy. It must return once ctx ends.
type Check func(ctx context.Context) (status string, err error)

// Supervise runs until ctx ends. Every half watchdog timeout (as
// sd_watchdog_enabled(3) advises), or every StatusInterval without a
// watchdog, it runs check with that long to answer, and sends the status
// line it returns with WATCHDOG=1 when the unit has a watchdog. While check
// fails or does not answer in time, no WATCHDOG=1 is sent (the status line
// says why): a daemon that stays unhealthy for WatchdogSec= is killed by
// systemd (SIGABRT: Go prints every goroutine's stack to the journal) and
// restarted by Restart=. onError, when not nil, is told of failed checks
// and failed sends.
func (n *Notifier) Supervise(ctx context.Context, check Check, onError func(error)) {
	if n == nil {
		return
	}
	report := func(err error) {
		if err != nil && onError != nil {
			onError(err)
		}
	}
	interval := StatusInterval
	if n.watchdog > 0 {
		interval = n.watchdog / 2
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// First at once: the status line right after READY=1, and a
		// ping well within the first timeout.
		cctx, cancel := context.WithTimeout(ctx, interval)
		status, err := check(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			report(fmt.Errorf("health check failed: %w", err))
			report(n.Status("unhealthy: " + err.Error()))
		case n.watchdog > 0:
			report(n.Send(withStatus([]string{"WATCHDOG=1"}, status)...))
		default:
			report(n.Status(status))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ErrNoAnswer is what Answer returns when the check did not finish in time.
var ErrNoAnswer = errors.New("no answer in time")

// Answer runs fn in its own goroutine and returns its result, or
// ErrNoAnswer wrapping ctx's error once ctx ends first: a check stuck on a
// lock must not stop Supervise from returning at shutdown. fn's goroutine
// then runs on until fn returns; fn must only use what it was given, not
// state that shutdown tears down.
func Answer(ctx context.Context, fn func() (string, error)) (string, error) {
	type result struct {
		status string
		err    error
	}
	done := make(chan result, 1) // fn never blocks on sending
	go func() {
		s, err := fn()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.status, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrNoAnswer, ctx.Err())
	}
}
