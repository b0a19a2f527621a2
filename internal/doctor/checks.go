package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"
)

// Free space below which a directory is warned about: MinFreeBytes, or
// MinFreePercent of its filesystem, whichever is less (a big disk at 4 %
// still has room; a small one with 1 GiB left is nearly full).
const (
	MinFreeBytes   = 1 << 30
	MinFreePercent = 5
)

// Dir checks that dir (what it is: "data dir", "download dir") is a
// directory this process can create files in, with free space. A dir not
// there yet is fine if it can be created (the daemon creates it at start):
// its nearest existing parent is checked instead. flag names the setting
// that moves it (e.g. "--download-dir").
func Dir(check, what, dir, flag string) Finding {
	if dir == "" {
		return Error(check, "set "+flag, "no %s is set", what)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Error(check, "set "+flag+" to an absolute path", "%s %s: %v", what, dir, err)
	}
	probe, missing := abs, false
	for {
		fi, err := os.Stat(probe)
		if err == nil {
			if !fi.IsDir() {
				return Error(check, fmt.Sprintf("remove or rename the file %s, or set %s to a directory", probe, flag),
					"%s %s: %s is not a directory", what, abs, probe)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Error(check, fmt.Sprintf("check the permissions on the way to %s, or set %s elsewhere", abs, flag), "%s %s: %v", what, abs, err)
		}
		missing = true
		parent := filepath.Dir(probe)
		if parent == probe {
			break
		}
		probe = parent
	}
	if err := canWrite(probe); err != nil {
		fix := fmt.Sprintf("chown $(id -un) %s (or chmod u+w %s), or set %s to a directory you own", probe, probe, flag)
		if missing {
			return Error(check, fix, "%s %s cannot be created: %s is not writable: %v", what, abs, probe, err)
		}
		return Error(check, fix, "%s %s is not writable: %v", what, abs, err)
	}
	free, total, ok := space(probe)
	if !ok {
		return OK(check, "%s %s is writable", what, abs)
	}
	if total > 0 && free < MinFreeBytes && free*100 < total*MinFreePercent {
		return Warn(check, fmt.Sprintf("free space on the filesystem of %s, or set %s to a larger disk", probe, flag),
			"%s %s has %s free of %s", what, abs, bytesText(free), bytesText(total))
	}
	if missing {
		return OK(check, "%s %s will be created in %s (%s free)", what, abs, probe, bytesText(free))
	}
	return OK(check, "%s %s is writable, %s free", what, abs, bytesText(free))
}

// canWrite creates a file in dir and removes it: the only test of
// writability that holds for every reason (modes, ACLs, read-only
// mounts, root).
func canWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".lodestone-doctor-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	return errors.Join(f.Close(), os.Remove(name))
}

// TokenFile checks the mode of the token file at path: only its owner
// may read it (0600). present false (no file) is fine when the token
// comes from elsewhere (--token, LODESTONE_TOKEN, --token-file).
func TokenFile(path string) Finding {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return OK(CheckTokenFile, "no token file at %s (the token is given by flag or environment, or the daemon has not started yet)", path)
	}
	if err != nil {
		return Error(CheckTokenFile, "check the permissions of "+filepath.Dir(path), "token file %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Error(CheckTokenFile, "remove "+path+" (the daemon writes a new token at its next start)", "token file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Error(CheckTokenFile, "chmod 600 "+path,
			"token file %s has mode %04o: other local users can read the API token", path, perm)
	}
	return OK(CheckTokenFile, "token file %s has mode %04o", path, fi.Mode().Perm())
}

// PortFree checks, with no daemon running, that the peer address can be
// bound: TCP and UDP (uTP and the DHT share the port). addr "" is the
// default, a port chosen at the first start.
func PortFree(addr, flag string) Finding {
	if addr == "" {
		return OK(CheckPeerPort, "the peer port is chosen at the daemon's first start and kept")
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		if err != nil {
			return Error(CheckPeerPort, "set "+flag+" to host:port, e.g. :51413", "peer address %q: %v", addr, err)
		}
		return OK(CheckPeerPort, "peer address %s: any free port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return Error(CheckPeerPort, fmt.Sprintf("stop the other process (ss -ltnp 'sport = :%s' names it), or set %s to another port", portOf(addr), flag),
			"peer port %s is in use by another process: %v", addr, errors.Unwrap(errors.Unwrap(err)))
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return Warn(CheckPeerPort, fmt.Sprintf("stop the other process (ss -lunp 'sport = :%s' names it), or set %s to another port", portOf(addr), flag),
			"peer port %s is free for TCP but its UDP port (uTP, DHT) is in use: %v", addr, err)
	}
	pc.Close()
	return OK(CheckPeerPort, "peer port %s is free (no daemon is running)", addr)
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// Clock checks that now is not before built (the time this binary was
// built, or any earlier time known to be past; zero skips that part) nor
// in an absurd year: TLS, tracker and DHT tokens, and the times shown,
// all need a right clock.
func Clock(now, built time.Time) Finding {
	const fix = "set the clock: timedatectl set-ntp true (or run an NTP client)"
	if !built.IsZero() && now.Before(built) {
		return Error(CheckClock, fix, "the clock says %s, before this program was built (%s)", now.UTC().Format(time.RFC3339), built.UTC().Format(time.RFC3339))
	}
	if y := now.Year(); y < 2024 || y > 2100 {
		return Error(CheckClock, fix, "the clock says %s: the year %d cannot be right", now.UTC().Format(time.RFC3339), y)
	}
	return OK(CheckClock, "the clock says %s", now.UTC().Format(time.RFC3339))
}

// MaxSkew is how far the daemon's clock and the command line's may
// differ before ClockSkew warns (both on one machine: the same clock).
const MaxSkew = 5 * time.Second

// ClockSkew compares the daemon's clock (its answer's time) with ours,
// taken when the request was sent and when the answer came back.
func ClockSkew(daemon, sent, received time.Time) Finding {
	var off time.Duration
	switch {
	case daemon.Before(sent):
		off = sent.Sub(daemon)
	case daemon.After(received):
		off = daemon.Sub(received)
	}
	if off > MaxSkew {
		return Warn(CheckClockSkew, "set both machines' clocks with NTP: timedatectl set-ntp true",
			"the daemon's clock is %s off this machine's", off.Round(time.Second))
	}
	return OK(CheckClockSkew, "the daemon's clock agrees with this machine's")
}

// Root warns when euid is 0: a BitTorrent daemon talks to strangers all
// day and should hold no more rights than its files need.
func Root(euid int) Finding {
	if euid == 0 {
		return Warn(CheckRoot, "run it as an ordinary user (e.g. systemd's User= or DynamicUser=yes)",
			"running as root: a flaw reachable by peers would own the machine")
	}
	return OK(CheckRoot, "not running as root (uid %d)", euid)
}

// bytesText renders n bytes in binary units, e.g. "4.8 GiB".
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// BuildTime returns the time of the commit this binary was built from
// (Go stamps it when building in a git checkout), or zero when unknown:
// a clock before it is certainly wrong.
func BuildTime() time.Time {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return time.Time{}
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.time" {
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}
