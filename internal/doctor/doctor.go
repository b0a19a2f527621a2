// Package doctor holds the checks of `lodestone doctor` (issue 19): each
// looks at one part of a Lodestone setup and returns a finding that says
// what it found and, when something is wrong, how to fix it (an exact
// command or setting). The daemon runs the checks that need its view
// (server.doctor); the command line runs them itself when no daemon
// answers, and adds the ones only it can make (its clock against the
// daemon's). The checks only read, except that a directory is tested for
// writing with a file created and removed at once, and a free port is
// tested by binding it for a moment.
package doctor

import (
	"fmt"

	"github.com/lodestone-bt/lodestone/api"
)

// Finding is one check's outcome (the wire type of server.doctor).
type Finding = api.DoctorFinding

// Check names, stable for programs reading --json.
const (
	CheckConfig      = "config"
	CheckConfigFile  = "config_file"
	CheckDaemon      = "daemon"
	CheckDataDir     = "data_dir"
	CheckDownloadDir = "download_dir"
	CheckTokenFile   = "token_file"
	CheckPeerPort    = "peer_port"
	CheckUPnP        = "upnp"
	CheckDHT         = "dht"
	CheckClock       = "clock"
	CheckClockSkew   = "clock_skew"
	CheckRoot        = "root"
	CheckBlocklist   = "blocklist"
	CheckProxy       = "proxy"
)

// OK is a finding of nothing wrong.
func OK(check, format string, a ...any) Finding {
	return Finding{Check: check, Level: api.DoctorOK, Message: fmt.Sprintf(format, a...)}
}

// Warn is a finding of something that works but may not be what the user
// wants, with its fix.
func Warn(check, fix, format string, a ...any) Finding {
	return Finding{Check: check, Level: api.DoctorWarn, Message: fmt.Sprintf(format, a...), Fix: fix}
}

// Error is a finding of something broken, with its fix.
func Error(check, fix, format string, a ...any) Finding {
	return Finding{Check: check, Level: api.DoctorError, Message: fmt.Sprintf(format, a...), Fix: fix}
}

// HasError reports whether any finding is an error.
func HasError(fs []Finding) bool {
	for _, f := range fs {
		if f.Level == api.DoctorError {
			return true
		}
	}
	return false
}
