package api

// server.doctor (issue 19): the daemon checks its own setup and says how to
// fix what is wrong. `lodestone doctor` renders the findings and adds the
// checks only the command line can make (its clock against the daemon's).

// MethodServerDoctor runs the daemon's checks (DoctorResult). Admin scope:
// findings name paths and addresses of the machine.
const MethodServerDoctor = "server.doctor"

// Levels of a DoctorFinding.
const (
	DoctorOK    = "ok"
	DoctorWarn  = "warn"
	DoctorError = "error"
)

// DoctorFinding is the outcome of one check.
type DoctorFinding struct {
	// Check names what was checked, e.g. "download_dir", "token_file",
	// "peer_port" (a stable name for programs).
	Check string `json:"check"`
	// Level is DoctorOK, DoctorWarn or DoctorError.
	Level string `json:"level"`
	// Message says what was found, for a human.
	Message string `json:"message"`
	// Fix says how to fix it: an exact command or setting; empty with
	// DoctorOK.
	Fix string `json:"fix,omitempty"`
}

// DoctorResult is the result of server.doctor.
type DoctorResult struct {
	// Time is the daemon's clock when it checked, RFC 3339 with
	// nanoseconds (the command line compares it with its own).
	Time string `json:"time"`
	// Findings are every check's outcome, in a fixed order.
	Findings []DoctorFinding `json:"findings"`
}
