package api

// A running daemon describes itself to local clients in a small JSON file,
// a DaemonFile, so that a client finds its address and token however the
// daemon was started (a token generated, read from a file, or given on
// its command line). The file is written when the daemon starts serving
// and removed when it stops cleanly; after a crash it stays, and its PID
// tells a client it is stale. It is mode 0600: only the daemon's user
// reads it.
//
// The daemon writes it in two places: DaemonFileName in its data
// directory, always; and, when $XDG_RUNTIME_DIR is set, RuntimeDirName/
// "daemon-<pid>.json" there, so that a client of the same user finds a
// daemon started with another data directory or address.
const (
	// DaemonFileName is the name of the daemon file in the data dir.
	DaemonFileName = "daemon.json"
	// RuntimeDirName is the directory under $XDG_RUNTIME_DIR that holds
	// one daemon file per running daemon.
	RuntimeDirName = "lodestone"
)

// How a daemon got its API token, in DaemonFile.TokenSource.
const (
	// TokenSourceGenerated: generated on first start and kept in the
	// data dir's token file (DaemonFile.TokenFile).
	TokenSourceGenerated = "generated"
	// TokenSourceFile: read from a file the operator gave (serve
	// --token-file), named by DaemonFile.TokenFile.
	TokenSourceFile = "file"
	// TokenSourceGiven: given as a value (serve --token, LODESTONE_TOKEN
	// or the config file). The daemon does not copy it to disk, so
	// DaemonFile.TokenFile is empty: the client must be given it too.
	TokenSourceGiven = "given"
)

// DaemonFile is the content of a daemon file.
type DaemonFile struct {
	// PID is the daemon's process id.
	PID int `json:"pid"`
	// APIURL is the WebSocket URL of the API, without the token, with a
	// loopback host when the daemon listens on all addresses.
	APIURL string `json:"api_url"`
	// DataDir is the daemon's data directory, absolute.
	DataDir string `json:"data_dir"`
	// TokenSource is how the daemon got its token: TokenSourceGenerated,
	// TokenSourceFile or TokenSourceGiven.
	TokenSource string `json:"token_source"`
	// TokenFile is the absolute path of the file holding the token;
	// empty for TokenSourceGiven.
	TokenFile string `json:"token_file,omitempty"`
}
