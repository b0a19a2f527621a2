package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// list is a repeatable flag, as serve's are.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }
func (l *list) Get() any           { return []string(*l) }

// testChecks check api-addr (a colon) and allow-host (no spaces).
var testChecks = map[string]func(string) error{
	"api-addr": func(s string) error {
		if !strings.Contains(s, ":") {
			return errors.New("want host:port")
		}
		return nil
	},
	"allow-host": func(s string) error {
		if strings.Contains(s, " ") {
			return errors.New("a space in a host name")
		}
		return nil
	},
}

// vars are the variables testFlags binds.
type vars struct {
	addr, token, proxy string
	dht                bool
	mib                int
	refresh            time.Duration
	hosts              list
}

// testFlags is a small stand-in for serve's FlagSet, with a flag of every
// kind.
func testFlags() (*flag.FlagSet, *vars) {
	v := &vars{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	fs.String("config", "", "the file")
	fs.StringVar(&v.addr, "api-addr", "127.0.0.1:6810", "API address")
	fs.StringVar(&v.token, "token", "", "API token")
	fs.StringVar(&v.proxy, "proxy", "", "SOCKS5 proxy")
	fs.BoolVar(&v.dht, "dht", true, "use the DHT")
	fs.IntVar(&v.mib, "write-buffer-mib", 0, "buffer")
	fs.DurationVar(&v.refresh, "blocklist-refresh", 24*time.Hour, "refresh")
	fs.Var(&v.hosts, "allow-host", "hosts (repeatable)")
	return fs, v
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func load(t *testing.T, args []string, env map[string]string, file string) (*Config, *vars, error) {
	t.Helper()
	fs, v := testFlags()
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := Load(fs, Options{Path: file, LookupEnv: envOf(env), Skip: []string{"config"}, Checks: testChecks})
	return c, v, err
}

// Flags win over the environment, the environment over the file, the
// file over the defaults, key by key.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
api_addr = "127.0.0.1:1111"
dht = false
write_buffer_mib = 8
blocklist_refresh = "1h"
allow_host = ["file.example"]

[session]
download_rate_limit = 1000
upload_rate_limit = 2000
`)
	env := map[string]string{
		"LODESTONE_API_ADDR":                  "127.0.0.1:2222",
		"LODESTONE_WRITE_BUFFER_MIB":          "16",
		"LODESTONE_SESSION_UPLOAD_RATE_LIMIT": "3000",
		"LODESTONE_ALLOW_HOST":                "env1.example, env2.example",
	}
	c, v, err := load(t, []string{"--api-addr", "127.0.0.1:3333", "--allow-host", "flag.example"}, env, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, text, source string
	}{
		{"api_addr", `"127.0.0.1:3333"`, "flag"},                     // flag > env > file
		{"allow_host", `["flag.example"]`, "flag"},                   // a flag replaces the env's list
		{"write_buffer_mib", "16", "env LODESTONE_WRITE_BUFFER_MIB"}, // env > file
		{"session.upload_rate_limit", "3000", "env LODESTONE_SESSION_UPLOAD_RATE_LIMIT"},
		{"dht", "false", "file " + file + ":3"}, // file > default
		{"blocklist_refresh", `"1h0m0s"`, "file " + file + ":5"},
		{"session.download_rate_limit", "1000", "file " + file + ":9"},
		{"token", `""`, "default"},
		{"session.max_active_seeds", "0", "default"},
	} {
		got, ok := c.Lookup(tc.key)
		if !ok {
			t.Errorf("%s: no such key", tc.key)
			continue
		}
		if got.Text != tc.text || got.Source.String() != tc.source {
			t.Errorf("%s = %s (%s), want %s (%s)", tc.key, got.Text, got.Source, tc.text, tc.source)
		}
	}
	if v.addr != "127.0.0.1:3333" || v.mib != 16 || v.dht || v.refresh != time.Hour || strings.Join(v.hosts, " ") != "flag.example" {
		t.Errorf("variables: %+v", v)
	}
	if c.Session.DownloadRateLimit != 1000 || c.Session.UploadRateLimit != 3000 {
		t.Errorf("session: %+v", c.Session)
	}
	// Without the flag, the environment's list, comma-separated.
	_, v, err = load(t, nil, env, file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(v.hosts, " ") != "env1.example env2.example" || v.addr != "127.0.0.1:2222" {
		t.Errorf("from the environment: hosts %q, addr %q", v.hosts, v.addr)
	}
}

// A mistake in the file names the file, the line and the key; every
// mistake is reported at once, in line order.
func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "api_addr = \"127.0.0.1:1\"\napi_adr = \"x\"\n", []string{`:2: unknown key "api_adr" (did you mean "api_addr"?)`}},
		{"unknown table key", "[session]\ndownload_rate = 5\n", []string{`:2: unknown key "session.download_rate"`}},
		{"wrong type", "dht = \"no\"\n", []string{":1: key dht: want true or false, not a string"}},
		{"bad duration", "blocklist_refresh = \"soon\"\n", []string{":1: key blocklist_refresh:", "soon"}},
		{"negative limit", "\n[session]\nmax_active_seeds = -1\n", []string{":3: key session.max_active_seeds: -1 is negative"}},
		{"relative dir", "[session]\ndownload_dir = \"films\"\n", []string{":2: key session.download_dir:", "not an absolute path"}},
		{"unknown component", "[log_levels]\nengine = \"debug\"\nengien = \"debug\"\n", []string{`:3: key log_levels: unknown component "engien"`}},
		{"bad level", "[log_levels]\nengine = \"loud\"\n", []string{`:2: key log_levels: engine: log level "loud"`}},
		{"list of numbers", "allow_host = [1]\n", []string{":1: key allow_host: want an array of strings"}},
		{"twice", "dht = true\ndht = false\n", []string{":2: key dht given twice (first on line 1)"}},
		{"syntax", "dht = true\nwrite_buffer_mib = \n", []string{":2:"}},
		{"two mistakes in line order", "write_buffer_mib = \"8\"\nbogus = 1\n", []string{":1: key write_buffer_mib: want an integer", ":2: unknown key \"bogus\""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, tc.text)
			_, _, err := load(t, nil, nil, file)
			if err == nil {
				t.Fatal("loaded")
			}
			msg := err.Error()
			last := -1
			for _, w := range tc.want {
				i := strings.Index(msg, w)
				if i < 0 || !strings.Contains(msg, file) {
					t.Fatalf("error %q: want %q and the file's path", msg, w)
				}
				if i < last {
					t.Errorf("error %q: %q out of line order", msg, w)
				}
				last = i
			}
		})
	}
}

// A bad value in the environment names the variable and the key.
func TestEnvError(t *testing.T) {
	_, _, err := load(t, nil, map[string]string{"LODESTONE_DHT": "maybe"}, "")
	if err == nil || !strings.Contains(err.Error(), "LODESTONE_DHT: key dht:") {
		t.Fatalf("err = %v", err)
	}
}

// The file given by --config must exist; a default place may be empty.
func TestFindFile(t *testing.T) {
	if _, _, err := load(t, nil, nil, filepath.Join(t.TempDir(), "nope.toml")); err == nil {
		t.Error("a missing --config file was accepted")
	}
	home := t.TempDir()
	c, _, err := load(t, nil, map[string]string{"HOME": home}, "")
	if err != nil || c.File != "" && c.File != "/etc/lodestone/config.toml" {
		t.Fatalf("no file: %v, %q", err, c.File)
	}
	xdg := t.TempDir()
	p := filepath.Join(xdg, "lodestone", "config.toml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("dht = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, v, err := load(t, nil, map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}, "")
	if err != nil || c.File != p || v.dht {
		t.Fatalf("XDG file: %v, %q, dht %v", err, c.File, v.dht)
	}
	if got := DefaultPaths(envOf(map[string]string{"HOME": home})); got[0] != filepath.Join(home, ".config", "lodestone", "config.toml") || got[1] != "/etc/lodestone/config.toml" {
		t.Errorf("DefaultPaths = %q", got)
	}
}

// `config show` masks the token whole and a proxy URL's password, and
// says where each value came from.
func TestShow(t *testing.T) {
	file := writeFile(t, "proxy = \"socks5://bob:hunter2@127.0.0.1:1080\"\n[log_levels]\nengine = \"debug\"\n")
	c, _, err := load(t, []string{"--dht=false"}, map[string]string{"LODESTONE_TOKEN": "Zq3-u8_Lw0pXv2Rk7Nn4Yb"}, file)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Show(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, secret := range []string{"hunter2", "Zq3-u8_Lw0pXv2Rk7Nn4Yb"} {
		if strings.Contains(out, secret) {
			t.Errorf("show prints %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`token = "xxxxx"  # env LODESTONE_TOKEN`,
		`proxy = "socks5://bob:xxxxx@127.0.0.1:1080"  # file ` + file + `:1`,
		`dht = false  # flag`,
		`api_addr = "127.0.0.1:6810"  # default`,
		"[log_levels]  # file " + file + ":2\nengine = \"debug\"",
		"[session]\ndownload_rate_limit = 0  # default",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// What show prints is TOML, and reads back to the same values.
	back := writeFile(t, out)
	c2, _, err := load(t, nil, nil, back)
	if err != nil {
		t.Fatalf("show's output does not load: %v", err)
	}
	if v, _ := c2.Lookup("dht"); v.Text != "false" {
		t.Errorf("dht read back as %s", v.Text)
	}
}

// `config init` writes every key, commented out with its default: it
// loads as it is, and with every key uncommented it gives the defaults.
func TestInit(t *testing.T) {
	fs, _ := testFlags()
	keys, err := Keys(fs, "config")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteInit(&b, keys); err != nil {
		t.Fatal(err)
	}
	if _, _, err := load(t, nil, nil, writeFile(t, b.String())); err != nil {
		t.Fatalf("init's file does not load: %v\n%s", err, b.String())
	}
	uncommented := regexp.MustCompile(`(?m)^#([a-z_]+ = )`).ReplaceAllString(b.String(), "$1")
	c, _, err := load(t, nil, nil, writeFile(t, uncommented))
	if err != nil {
		t.Fatalf("init's file, uncommented, does not load: %v\n%s", err, uncommented)
	}
	for _, v := range c.Values() {
		if v.Source.Kind != FromFile {
			t.Errorf("key %s is not in init's file", v.Name)
		}
		if v.Kind != KindLevels && v.Text != v.Default {
			t.Errorf("key %s: init's file gives %s, default %s", v.Name, v.Text, v.Default)
		}
	}
	if len(c.Values()) != len(keys) {
		t.Errorf("%d values, %d keys", len(c.Values()), len(keys))
	}
}

// A reload's changes are told apart: runtime keys apply, the others wait
// for a restart and are named again at the next reload.
func TestDiff(t *testing.T) {
	old, _, err := load(t, nil, nil, writeFile(t, "dht = true\n[session]\ndownload_rate_limit = 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := load(t, nil, nil, writeFile(t, "dht = false\nproxy = \"socks5://u:secret@127.0.0.1:1\"\n[session]\ndownload_rate_limit = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	changes := Diff(old, next)
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Key] = c
	}
	if c := got["session.download_rate_limit"]; !c.Runtime || c.Old != "1" || c.New != "2" {
		t.Errorf("download_rate_limit change: %+v", c)
	}
	if c := got["dht"]; c.Runtime || c.Old != "true" || c.New != "false" {
		t.Errorf("dht change: %+v", c)
	}
	if c := got["proxy"]; strings.Contains(c.New, "secret") || c.New == "" {
		t.Errorf("proxy change: %+v", c)
	}
	if len(changes) != 3 {
		t.Errorf("changes: %+v", changes)
	}
	inForce := Applied(old, next)
	again := Diff(inForce, next)
	if len(again) != 1 || again[0].Key != "dht" {
		t.Errorf("after applying, still to restart: %+v", again)
	}
}

// A flag's check refuses a bad value from any source, naming it.
func TestChecks(t *testing.T) {
	file := writeFile(t, "dht = true\napi_addr = \"nowhere\"\nallow_host = [\"ok.example\", \"bad host\"]\n")
	_, _, err := load(t, nil, nil, file)
	if err == nil || !strings.Contains(err.Error(), file+":2: key api_addr: want host:port") || !strings.Contains(err.Error(), file+":3: key allow_host: a space in a host name") {
		t.Errorf("file: %v", err)
	}
	_, _, err = load(t, []string{"--api-addr", "nowhere"}, map[string]string{"LODESTONE_ALLOW_HOST": "a,b c"}, "")
	if err == nil || !strings.Contains(err.Error(), "--api-addr: want host:port") || !strings.Contains(err.Error(), `LODESTONE_ALLOW_HOST: key allow_host: "a,b c": a space`) {
		t.Errorf("flag and env: %v", err)
	}
	if _, _, err := load(t, []string{"--api-addr", "127.0.0.1:1"}, nil, ""); err != nil {
		t.Errorf("a good flag: %v", err)
	}
}
