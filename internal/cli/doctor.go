package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/doctor"
)

const doctorUsage = `usage: lodestone doctor [flags]

Checks a Lodestone setup and says how to fix what is wrong. With a daemon
answering on --api-addr, it asks the daemon (server.doctor): its data and
download dirs (writable, free space), its token file's mode, its peer
listener, UPnP, the DHT, its clock, whether it runs as root, the
blocklists and the proxy; and compares the daemon's clock with this one.
With none answering, it checks the setup the daemon would start with:
serve's configuration (the file of --config, else serve's search path;
the environment; the defaults) and, as it or the flags here say, the data
and download dirs, the token file, whether the peer port is free, the
clock and the user. Either way a wrong configuration file is an error:
the daemon would not start again.

Each finding is ok, warn or error, with the fix on the next line. Exits 1
when any finding is an error. With --json, prints {"findings": [...]}.
`

// DoctorSetup is what `lodestone serve` would start with, settled from its
// configuration (file, environment, defaults) by cmd/lodestone, which
// owns the configuration (this package does not import it).
type DoctorSetup struct {
	// File is the configuration file read, "" for none.
	File string
	// APIAddr, DataDir, DownloadDir and PeerAddr are the settings doctor
	// checks; serve's defaults when the configuration is wrong.
	APIAddr, DataDir, DownloadDir, PeerAddr string
	// Err is what is wrong with the configuration (a file's line and
	// key, a bad value, a refused combination); nil when it is right.
	Err error
}

// RunDoctor runs `lodestone doctor` with args (after the command name),
// as Run would, but with its defaults from settle: the configuration
// serve would read (the file at the path given by --config, else serve's
// search path). It returns the exit code.
func RunDoctor(ctx context.Context, args []string, stdout, stderr io.Writer, settle func(configPath string) DoctorSetup) int {
	e := &env{stdout: stdout, stderr: stderr, tty: isTerminal(stdout), getenv: os.Getenv}
	return e.exit("doctor", runDoctorWith(ctx, e, args, settle))
}

func runDoctor(ctx context.Context, e *env, args []string) error {
	return runDoctorWith(ctx, e, args, nil)
}

// runDoctorWith runs doctor; settle, if not nil, gives the defaults of
// the flags not given and the configuration's own finding.
func runDoctorWith(ctx context.Context, e *env, args []string, settle func(string) DoctorSetup) error {
	fs := newFlagSet("doctor")
	var common commonFlags
	common.register(fs)
	downloadDir := fs.String("download-dir", "", "with no daemon running: the download `dir` to check (default: serve's configuration's)")
	peerAddr := fs.String("peer-addr", "", "with no daemon running: the peer `address` to check is free (default: serve's configuration's)")
	configPath := fs.String("config", "", "serve's configuration `file` to check and take the settings from (default: serve's search path)")
	pos, err := e.parse(fs, args, doctorUsage)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	var conf *api.DoctorFinding
	if settle != nil {
		setup := settle(*configPath)
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		if !given["api-addr"] && setup.APIAddr != "" {
			common.apiAddr = setup.APIAddr
		}
		if !given["data-dir"] {
			common.dataDir = setup.DataDir
		}
		if !given["download-dir"] {
			*downloadDir = setup.DownloadDir
		}
		if !given["peer-addr"] {
			*peerAddr = setup.PeerAddr
		}
		conf = configFinding(setup)
	}
	findings, err := diagnose(ctx, e, &common, *downloadDir, *peerAddr)
	if err != nil {
		return err
	}
	if conf != nil {
		findings = withConfig(findings, *conf)
	}
	if common.json {
		raw, err := json.Marshal(struct {
			Findings []api.DoctorFinding `json:"findings"`
		}{findings})
		if err != nil {
			return err
		}
		if err := printJSON(e.stdout, raw); err != nil {
			return err
		}
	} else {
		printFindings(e, findings)
	}
	if n := countErrors(findings); n > 0 {
		return fmt.Errorf("doctor: %d %s", n, plural(n, "error", "errors"))
	}
	return nil
}

// diagnose asks the daemon, or checks the local setup when none answers.
func diagnose(ctx context.Context, e *env, common *commonFlags, downloadDir, peerAddr string) ([]api.DoctorFinding, error) {
	// The daemon and its token, found as every command finds them
	// (locate.go); the URL is set even when the token is not found.
	t, tokErr := common.locate(e)
	var ue *usageError
	if errors.As(tokErr, &ue) {
		return nil, tokErr
	}
	url, token, source := t.url, t.token, t.source
	var err error
	dataDir := common.dataDir
	if dataDir == "" {
		dataDir = defaultDataDir(e.getenv)
	}
	if downloadDir == "" {
		downloadDir = defaultDownloadDir(e.getenv)
	}
	var c *client.Client
	if tokErr == nil {
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		c, err = client.Dial(dctx, url, token)
		cancel()
	}
	var he *client.HandshakeError
	switch {
	case tokErr == nil && err == nil:
		defer c.Close()
		return askDaemon(ctx, c, url)
	case tokErr == nil && errors.As(err, &he):
		// A daemon is there but refused us: say why, then check what can
		// be checked from here.
		f := doctor.Error(doctor.CheckDaemon, fmt.Sprintf("pass the daemon's token with --token or $%s, or point --data-dir at its data dir", TokenEnv),
			"the daemon at %s refused the token from %s (HTTP %d)", url, source, he.StatusCode)
		return append([]api.DoctorFinding{f}, localChecks(dataDir, downloadDir, peerAddr, false)...), nil
	case tokErr != nil && answers(ctx, url):
		f := doctor.Error(doctor.CheckDaemon, fmt.Sprintf("pass the daemon's token with --token or $%s, or point --data-dir at its data dir", TokenEnv),
			"something answers at %s, but no token was found: %v", url, tokErr)
		return append([]api.DoctorFinding{f}, localChecks(dataDir, downloadDir, peerAddr, false)...), nil
	}
	f := doctor.Warn(doctor.CheckDaemon, "start it: lodestone serve (or give --api-addr if it listens elsewhere)",
		"no daemon answers at %s: checking the setup it would start with", url)
	return append([]api.DoctorFinding{f}, localChecks(dataDir, downloadDir, peerAddr, true)...), nil
}

// configFinding is the finding of serve's configuration as settled.
func configFinding(s DoctorSetup) *api.DoctorFinding {
	if s.Err != nil {
		// The error names the file and line when a file is at fault.
		f := doctor.Error(doctor.CheckConfigFile, "correct it, then: lodestone config check",
			"serve's configuration is wrong: %v; the daemon would not start", s.Err)
		return &f
	}
	file := s.File
	if file == "" {
		file = "no configuration file: flags, environment and defaults"
	}
	f := doctor.OK(doctor.CheckConfigFile, "serve's configuration is right (%s)", file)
	return &f
}

// withConfig adds the configuration's finding after the daemon's (the
// first). With no daemon answering it replaces the client's own config
// check: serve's validation covers it.
func withConfig(fs []api.DoctorFinding, conf api.DoctorFinding) []api.DoctorFinding {
	out := []api.DoctorFinding{fs[0], conf}
	for _, f := range fs[1:] {
		if f.Check == doctor.CheckConfig && fs[0].Level != api.DoctorOK {
			continue
		}
		out = append(out, f)
	}
	return out
}

// askDaemon runs server.doctor and adds the comparison of clocks.
func askDaemon(ctx context.Context, c *client.Client, url string) ([]api.DoctorFinding, error) {
	sent := time.Now()
	res, err := c.Doctor(ctx)
	received := time.Now()
	if err != nil {
		return nil, fmt.Errorf("server.doctor: %w", err)
	}
	info, err := c.ServerInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("server.info: %w", err)
	}
	out := []api.DoctorFinding{doctor.OK(doctor.CheckDaemon, "the daemon at %s answers (Lodestone %s, up %s)",
		url, info.Version, (time.Duration(info.UptimeSeconds) * time.Second).String())}
	out = append(out, res.Findings...)
	if t, err := time.Parse(time.RFC3339Nano, res.Time); err == nil {
		out = append(out, doctor.ClockSkew(t, sent, received))
	}
	return out, nil
}

// localChecks are the checks of a setup with no daemon running (free
// port: whether the peer port should be free).
func localChecks(dataDir, downloadDir, peerAddr string, freePort bool) []api.DoctorFinding {
	out := []api.DoctorFinding{
		doctor.Config(dataDir, downloadDir, peerAddr),
		doctor.Dir(doctor.CheckDataDir, "data dir", dataDir, "--data-dir"),
		doctor.Dir(doctor.CheckDownloadDir, "download dir", downloadDir, "--download-dir"),
		doctor.TokenFile(filepath.Join(dataDir, tokenFile)),
	}
	if freePort {
		out = append(out, doctor.PortFree(peerAddr, "--peer-addr"))
	}
	return append(out, doctor.Clock(time.Now(), doctor.BuildTime()), doctor.Root(os.Geteuid()))
}

// answers reports whether something accepts TCP connections at the API
// address (host:port or a ws:// URL).
func answers(ctx context.Context, apiAddr string) bool {
	addr := apiAddr
	if i := strings.Index(addr, "://"); i >= 0 {
		addr = addr[i+3:]
		if j := strings.IndexByte(addr, '/'); j >= 0 {
			addr = addr[:j]
		}
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// defaultDownloadDir mirrors the daemon's default download dir:
// $XDG_DOWNLOAD_DIR, else ~/Downloads.
func defaultDownloadDir(getenv func(string) string) string {
	if d := getenv("XDG_DOWNLOAD_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "Downloads")
	}
	return "downloads"
}

// printFindings writes one line per finding, "ok", "warn" or "error"
// first, and its fix indented below.
func printFindings(e *env, fs []api.DoctorFinding) {
	for _, f := range fs {
		fmt.Fprintf(e.stdout, "%-5s  %-12s  %s\n", f.Level, f.Check, f.Message)
		if f.Fix != "" {
			fmt.Fprintf(e.stdout, "%-5s  %-12s  fix: %s\n", "", "", f.Fix)
		}
	}
}

func countErrors(fs []api.DoctorFinding) int {
	n := 0
	for _, f := range fs {
		if f.Level == api.DoctorError {
			n++
		}
	}
	return n
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
