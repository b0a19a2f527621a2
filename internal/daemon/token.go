package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/lodestone-bt/lodestone/api"
)

// TokenFile is the name of the token file in the data directory.
const TokenFile = "token"

// LoadOrCreateToken returns the token stored in dataDir, creating a random
// one (mode 0600) on first use.
func LoadOrCreateToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, TokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("token file %s is empty: delete it to generate a new token", path)
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write token: %w", err)
	}
	return tok, nil
}

// daemonFile describes the running daemon for local clients (see
// api.DaemonFile): its API URL with a loopback host in place of an
// unspecified one, and where its token is.
func (d *Daemon) daemonFile() (api.DaemonFile, error) {
	dataDir, err := filepath.Abs(d.cfg.DataDir)
	if err != nil {
		return api.DaemonFile{}, err
	}
	addr := d.APIAddr()
	if host, port, err := net.SplitHostPort(addr); err == nil {
		// Go listens on both families for 0.0.0.0 and [::] alike, so
		// IPv4's loopback reaches either (and works where IPv6 is off).
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
	}
	f := api.DaemonFile{PID: os.Getpid(), APIURL: d.scheme + "://" + addr + api.Path, DataDir: dataDir}
	switch {
	case d.cfg.TokenFile != "":
		f.TokenSource = api.TokenSourceFile
		if f.TokenFile, err = filepath.Abs(d.cfg.TokenFile); err != nil {
			return api.DaemonFile{}, err
		}
	case d.cfg.Token != "":
		// A token given as a value is not written to disk: the operator
		// chose where it lives (an environment file, a credential store),
		// and a copy in the data dir would outlive its rotation. Clients
		// are told to set it themselves.
		f.TokenSource = api.TokenSourceGiven
	default:
		f.TokenSource = api.TokenSourceGenerated
		f.TokenFile = filepath.Join(dataDir, TokenFile)
	}
	return f, nil
}

// daemonFilePaths are where the daemon file goes: the data dir, and the
// runtime dir when there is one.
func (d *Daemon) daemonFilePaths() []string {
	paths := []string{filepath.Join(d.cfg.DataDir, api.DaemonFileName)}
	if d.cfg.RuntimeDir != "" {
		paths = append(paths, filepath.Join(d.cfg.RuntimeDir, fmt.Sprintf("daemon-%d.json", os.Getpid())))
	}
	return paths
}

// writeDaemonFiles writes the daemon file (mode 0600) where local clients
// look for it. A failure is logged, not fatal: clients can still be given
// --api-addr and --token.
func (d *Daemon) writeDaemonFiles() {
	f, err := d.daemonFile()
	if err == nil {
		var b []byte
		if b, err = json.MarshalIndent(f, "", "  "); err == nil {
			for _, path := range d.daemonFilePaths() {
				if err = writeFileAtomic(path, append(b, '\n')); err != nil {
					break
				}
			}
		}
	}
	if err != nil {
		d.log.Warn("write the daemon file for local clients", "err", err)
	}
}

// removeDaemonFiles removes what writeDaemonFiles wrote, if it is still
// this process's.
func (d *Daemon) removeDaemonFiles() {
	for _, path := range d.daemonFilePaths() {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var f api.DaemonFile
		if json.Unmarshal(b, &f) == nil && f.PID == os.Getpid() {
			os.Remove(path)
		}
	}
}

// writeFileAtomic writes b to path (mode 0600) through a temporary file
// and a rename, so a reader never sees half of it; it creates path's
// directory (mode 0700) if needed.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// defaultRuntimeDir is $XDG_RUNTIME_DIR/lodestone, or "" without
// $XDG_RUNTIME_DIR (a system service, a container).
func defaultRuntimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, api.RuntimeDirName)
	}
	return ""
}
