package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// How the CLI finds the daemon it talks to and the token to present
// (first match wins):
//
//   - the URL: --api-addr; else the running daemon's (its daemon file,
//     api.DaemonFile); else DefaultAPIAddr.
//   - the token: --token; else $LODESTONE_TOKEN; else the token file the
//     running daemon's daemon file names; else <data-dir>/token.
//
// "The running daemon" is the one whose daemon file is in --data-dir when
// that is given; else the one in the default data dir; else the one
// running daemon listed in $XDG_RUNTIME_DIR/lodestone (with --api-addr,
// the one listed at that address). A daemon file whose process is gone
// (a crash) is ignored. A daemon given its token as a value (--token,
// LODESTONE_TOKEN) keeps it off the disk, so the CLI says exactly what to
// set instead.

// target is where to connect and with what.
type target struct {
	url, token string
	// source says where the token came from, for errors.
	source string
}

// errTokenGiven is the advice for a daemon started with its token as a
// value: the CLI cannot read it anywhere.
var errTokenGiven = errors.New("this daemon was started with --token/LODESTONE_TOKEN; set LODESTONE_TOKEN to that value or pass --token")

// locate finds the daemon and the token to present. When only the token
// is missing, the target returned still has the URL.
func (c *commonFlags) locate(e *env) (target, error) {
	var flagURL string
	if c.apiAddr != "" {
		var err error
		if flagURL, err = apiURL(c.apiAddr); err != nil {
			return target{}, err
		}
	}
	df, err := c.runningDaemon(e, flagURL)
	if err != nil {
		return target{}, err
	}
	t := target{url: flagURL}
	if t.url == "" {
		t.url = "ws://" + DefaultAPIAddr + api.Path
		if df != nil {
			t.url = df.APIURL
		}
	}
	switch {
	case c.token != "":
		t.token, t.source = c.token, "--token"
	case e.getenv(TokenEnv) != "":
		t.token, t.source = e.getenv(TokenEnv), "$"+TokenEnv
	case df != nil && df.TokenSource == api.TokenSourceGiven:
		return t, fmt.Errorf("the daemon at %s: %w", df.APIURL, errTokenGiven)
	case df != nil && df.TokenFile != "":
		if t.token, err = readToken(df.TokenFile); err != nil {
			return t, fmt.Errorf("the daemon at %s keeps its token in %s: %w", df.APIURL, df.TokenFile, err)
		}
		t.source = df.TokenFile
	default:
		dir := c.dataDirOrDefault(e)
		path := filepath.Join(dir, tokenFile)
		t.token, err = readToken(path)
		if errors.Is(err, fs.ErrNotExist) {
			return t, fmt.Errorf("no API token: no daemon is running with data dir %s (is \"lodestone serve\" running? if with another --data-dir, pass the same --data-dir here), or pass --token or set $%s", dir, TokenEnv)
		}
		if err != nil {
			return t, err
		}
		t.source = path
	}
	return t, nil
}

// runningDaemon returns the daemon file of the daemon to talk to, or nil
// when none is known. flagURL is --api-addr's URL, "" when not given.
func (c *commonFlags) runningDaemon(e *env, flagURL string) (*api.DaemonFile, error) {
	matches := func(df *api.DaemonFile) bool { return flagURL == "" || df.APIURL == flagURL }
	if c.dataDir != "" {
		// The daemon of that data dir, or none: another daemon's token
		// would not be the one asked for.
		df := readDaemonFile(filepath.Join(c.dataDir, api.DaemonFileName))
		if df != nil && !matches(df) {
			df = nil
		}
		return df, nil
	}
	if df := readDaemonFile(filepath.Join(defaultDataDir(e.getenv), api.DaemonFileName)); df != nil && matches(df) {
		return df, nil
	}
	rt := e.getenv("XDG_RUNTIME_DIR")
	if rt == "" {
		return nil, nil
	}
	paths, _ := filepath.Glob(filepath.Join(rt, api.RuntimeDirName, "daemon-*.json"))
	var found []*api.DaemonFile
	for _, p := range paths {
		if df := readDaemonFile(p); df != nil && matches(df) {
			found = append(found, df)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	var list []string
	for _, df := range found {
		list = append(list, fmt.Sprintf("%s (--data-dir %s)", df.APIURL, df.DataDir))
	}
	slices.Sort(list)
	return nil, usagef("%d daemons are running: %s; choose one with --data-dir or --api-addr", len(found), strings.Join(list, ", "))
}

// readDaemonFile reads a daemon file; nil when there is none, it is not
// one, or its process is gone.
func readDaemonFile(path string) *api.DaemonFile {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var df api.DaemonFile
	if json.Unmarshal(b, &df) != nil || df.APIURL == "" || !processAlive(df.PID) {
		return nil
	}
	return &df
}

// processAlive reports whether process pid exists (signal 0 reaches it,
// or it is another user's).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, os.ErrPermission)
}

// readToken reads a token file.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return t, nil
}

// dataDirOrDefault is --data-dir, else the daemon's default data dir.
func (c *commonFlags) dataDirOrDefault(e *env) string {
	if c.dataDir != "" {
		return c.dataDir
	}
	return defaultDataDir(e.getenv)
}

// defaultDataDir mirrors the daemon's default data dir:
// $XDG_DATA_HOME/lodestone, else ~/.local/share/lodestone.
func defaultDataDir(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lodestone")
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home != "" {
		return filepath.Join(home, ".local", "share", "lodestone")
	}
	return "lodestone-data"
}

// apiURL turns --api-addr into the API's WebSocket URL.
func apiURL(addr string) (string, error) {
	if strings.HasPrefix(addr, "ws://") || strings.HasPrefix(addr, "wss://") {
		return addr, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", usagef("--api-addr %q: want host:port or a ws:// URL", addr)
	}
	return "ws://" + addr + api.Path, nil
}

// dial connects to the daemon. The caller closes the client.
func (c *commonFlags) dial(ctx context.Context, e *env) (*client.Client, error) {
	t, err := c.locate(e)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	cl, err := client.Dial(dctx, t.url, t.token)
	if err != nil {
		var he *client.HandshakeError
		if errors.As(err, &he) {
			return nil, &refusedError{url: t.url, source: t.source, err: he}
		}
		return nil, fmt.Errorf("cannot reach the daemon at %s (is \"lodestone serve\" running? see --api-addr): %w", t.url, err)
	}
	return cl, nil
}
