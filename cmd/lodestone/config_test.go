package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/config"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/OPERATIONS.md's key reference")

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Every serve flag is a configuration key, checked by its own value.
func TestServeFlagsAreKeys(t *testing.T) {
	fs, _ := newServeFlags()
	keys, err := config.Keys(fs, "config")
	if err != nil {
		t.Fatal(err)
	}
	byFlag := map[string]config.Key{}
	for _, k := range keys {
		byFlag[k.Flag] = k
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		n++
		k, ok := byFlag[f.Name]
		name := strings.ReplaceAll(f.Name, "-", "_")
		if c, ok := clusterKeys[f.Name]; ok {
			name = "cluster." + c // the [cluster] table's
		}
		if !ok {
			t.Errorf("flag --%s has no key", f.Name)
		} else if k.Name != name || k.Env != "LODESTONE_"+strings.ToUpper(strings.ReplaceAll(k.Name, ".", "_")) {
			t.Errorf("flag --%s: key %s, env %s", f.Name, k.Name, k.Env)
		}
	})
	if n < 30 {
		t.Errorf("only %d flags", n)
	}
	for _, name := range []string{"session.download_rate_limit", "session.upload_rate_limit", "session.max_active_downloads",
		"session.max_active_seeds", "session.seed_ratio_limit", "session.seed_time_limit", "session.seed_idle_limit",
		"session.download_dir", "log_levels"} {
		found := false
		for _, k := range keys {
			found = found || k.Name == name
		}
		if !found {
			t.Errorf("no key %s", name)
		}
	}
}

// docs/OPERATIONS.md's key reference is generated from the keys: it
// cannot drift from the flags (go test ./cmd/lodestone -run
// TestConfigReference -update-docs rewrites it).
func TestConfigReference(t *testing.T) {
	const begin, end = "<!-- config keys: begin (generated: go test ./cmd/lodestone -run TestConfigReference -update-docs) -->\n", "<!-- config keys: end -->\n"
	fs, _ := newServeFlags()
	keys, err := config.Keys(fs, "config")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := config.Reference(&b, keys); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "OPERATIONS.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q and %q", path, begin, end)
	}
	got := string(doc[i+len(begin) : j])
	if got == b.String() {
		return
	}
	if *updateDocs {
		out := append(append(append([]byte{}, doc[:i+len(begin)]...), b.Bytes()...), doc[j:]...)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's key reference is out of date: run go test ./cmd/lodestone -run TestConfigReference -update-docs", path)
}

// `config init` writes a file `config check` passes, with every key
// (uncommented too), and never overwrites; `config show` masks secrets
// and names sources; check fails on a bad file with its line.
func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	env := envMap(map[string]string{"HOME": dir, "LODESTONE_TOKEN": "Zq3-u8_Lw0pXv2Rk7Nn4Yb"})
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runConfig(args, env, &out, &errb)
		return code, out.String(), errb.String()
	}
	path := filepath.Join(dir, "sub", "config.toml")
	if code, out, errs := run("init", path); code != 0 || !strings.Contains(out, path) {
		t.Fatalf("init: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("init", path); code != 1 || !strings.Contains(errs, "not overwritten") {
		t.Fatalf("init over a file: %d %q", code, errs)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("init's file: %v %v", fi, err)
	}
	if code, out, errs := run("check", path); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check of init's file: %d %q %q", code, out, errs)
	}
	// Uncommented, every key is set from the file. The user's own
	// data and download dirs are kept apart as the daemon wants.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`(?m)^#([a-z_]+ = )`).ReplaceAllString(string(b), "$1")
	text = regexp.MustCompile(`(?m)^data_dir = .*$`).ReplaceAllString(text, `data_dir = "`+filepath.Join(dir, "data")+`"`)
	text = regexp.MustCompile(`(?m)^download_dir = .*$`).ReplaceAllString(text, `download_dir = "`+filepath.Join(dir, "dl")+`"`)
	full := filepath.Join(dir, "full.toml")
	if err := os.WriteFile(full, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run("show", full)
	if code != 0 {
		t.Fatalf("show: %d %q", code, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " = ") && !strings.Contains(line, "# file "+full) && !strings.Contains(line, "LODESTONE_TOKEN") &&
			!strings.HasPrefix(line, "#") && !regexp.MustCompile(`^[a-z]+ = "info"$`).MatchString(line) {
			t.Errorf("show: %q is not from the file", line)
		}
	}
	if !strings.Contains(out, `token = "xxxxx"  # env LODESTONE_TOKEN`) || strings.Contains(out, "Zq3-u8") {
		t.Errorf("show does not mask the token:\n%s", out)
	}
	if code, _, errs := run("check", full); code != 0 {
		t.Errorf("check of init's file, uncommented: %s", errs)
	}
	// A flag beats the file, in show as in serve.
	if _, out, _ := run("show", "--api-addr", "127.0.0.1:9", full); !strings.Contains(out, `api_addr = "127.0.0.1:9"  # flag`) {
		t.Errorf("show with a flag:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("dht = false\nencryption = \"sometimes\"\nnonsense = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = run("check", bad)
	if code != 1 || !strings.Contains(errs, bad+`:2: key encryption: encryption "sometimes"`) || !strings.Contains(errs, bad+`:3: unknown key "nonsense"`) {
		t.Errorf("check of a bad file: %d %q", code, errs)
	}
	if code, _, _ := run("check", filepath.Join(dir, "missing.toml")); code != 1 {
		t.Errorf("check of a missing file: %d", code)
	}
	if code, _, _ := run("frobnicate"); code != 2 {
		t.Errorf("unknown subcommand: %d", code)
	}
}

// The README's example file passes `config check`.
func TestReadmeExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Configure\n.*?```toml\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README.md has no Configure section with a TOML example")
	}
	dir := t.TempDir()
	text := regexp.MustCompile(`(?m)^download_dir = .*$`).ReplaceAllString(string(m[1]), `download_dir = "`+filepath.Join(dir, "dl")+`"`)
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runConfig([]string{"check", "--data-dir", filepath.Join(dir, "data"), path}, envMap(map[string]string{"HOME": dir}), &out, &errb); code != 0 {
		t.Fatalf("check of the README's example: %d %s", code, errb.String())
	}
}
