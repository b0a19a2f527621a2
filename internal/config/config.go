// Package config settles `lodestone serve`'s configuration from four
// sources, highest first: its command-line flags, LODESTONE_* environment
// variables, a TOML file, and the defaults. It says where each value came
// from (Config.Show), writes a commented file of every key (WriteInit),
// and tells a reload's changes apart into those the daemon applies while
// running and those that need a restart (Diff).
//
// Keys. Every serve flag is a key, named as the flag with dashes turned
// into underscores (--api-addr: api_addr); a repeatable flag's key is an
// array. Cluster mode's flags are the exception: their keys are in the
// [cluster] table (--cluster-listen: cluster.listen; see tableKeys). Beside
// them, the [session] table holds session.set's settings
// (session.download_rate_limit, ...) and the [log_levels] table a level
// per component. A key's environment variable is LODESTONE_ followed by
// the key in capitals, dots as underscores (LODESTONE_API_ADDR,
// LODESTONE_SESSION_DOWNLOAD_RATE_LIMIT); an array's is a comma-separated
// list, log_levels' "engine=debug,api=warn".
//
// A value is checked by the flag.Value its key is bound to (its type) and
// by Options.Checks (what the flag means), so a command-line flag, a
// variable and a file's key are refused alike, the file's with its path
// and line.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/lodestone-bt/lodestone/internal/logging"
	"github.com/lodestone-bt/lodestone/internal/typo"
)

// Kind is the type of a key's value.
type Kind int

// The kinds of keys.
const (
	KindString Kind = iota
	KindBool
	KindInt
	KindFloat
	KindDuration
	KindList   // an array of strings (a repeatable flag)
	KindLevels // a table of component = level
)

// Key is one configuration key.
type Key struct {
	// Name is the key as written in the file, dotted inside a table:
	// "api_addr", "session.download_rate_limit", "log_levels".
	Name string
	// Flag is the serve flag setting it, "" for a key without one.
	Flag string
	// Env is its environment variable.
	Env string
	// Kind is the type of its value.
	Kind Kind
	// Usage says what it does.
	Usage string
	// Default is its value when no source gives one, rendered in TOML.
	Default string
	// Runtime keys are applied by a reload (SIGHUP) while the daemon
	// runs; the others take a restart.
	Runtime bool
	// Secret values are masked wherever they are shown or logged.
	Secret bool

	value flag.Value
}

// SourceKind says which source gave a value.
type SourceKind int

// The sources, lowest precedence first.
const (
	FromDefault SourceKind = iota
	FromFile
	FromEnv
	FromFlag
)

// Source is where a value came from.
type Source struct {
	Kind SourceKind
	// File and Line locate a file's value; Env names a variable.
	File string
	Line int
	Env  string
}

// String renders s as `config show` does: flag, env NAME, file PATH:LINE
// or default.
func (s Source) String() string {
	switch s.Kind {
	case FromFlag:
		return "flag"
	case FromEnv:
		return "env " + s.Env
	case FromFile:
		return fmt.Sprintf("file %s:%d", s.File, s.Line)
	}
	return "default"
}

// Value is a key's effective value.
type Value struct {
	Key
	// Text is the value rendered in TOML (secrets not masked: see
	// Shown).
	Text string
	// Source is where it came from.
	Source Source
}

// Shown returns Text, masked if the key is secret: a token is replaced
// whole, a URL's password only.
func (v Value) Shown() string {
	if !v.Secret {
		return v.Text
	}
	return mask(v.Text)
}

// Session are the [session] keys: the settings of session.set that no
// serve flag gives (the blocklists are the blocklist key). 0 is "no
// limit" for every limit, as in session.set.
type Session struct {
	DownloadRateLimit  int64
	UploadRateLimit    int64
	MaxActiveDownloads int
	MaxActiveSeeds     int
	SeedRatioLimit     float64
	SeedTimeLimit      int64
	SeedIdleLimit      int64
	DownloadDir        string
}

// Config is a settled configuration. The serve flags' values are in the
// variables the FlagSet given to Load binds; the keys without a flag are
// here.
type Config struct {
	// File is the configuration file read, "" when none was.
	File string
	// Session are the [session] keys.
	Session Session
	// LogLevels are the [log_levels] table's levels, per component.
	LogLevels map[string]slog.Level

	values []Value
}

// Values returns every key's value: the serve flags' keys in name
// order, then the [session] keys, then log_levels.
func (c *Config) Values() []Value { return slices.Clone(c.values) }

// Lookup returns the value of the key named name.
func (c *Config) Lookup(name string) (Value, bool) {
	for _, v := range c.values {
		if v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}

// Options tell Load where to look.
type Options struct {
	// Path is the file given by --config: it must exist. Empty, the
	// default places are searched (DefaultPaths) and a missing file is
	// no error.
	Path string
	// LookupEnv reads the environment (os.LookupEnv; tests give a map's).
	LookupEnv func(string) (string, bool)
	// Skip are flags of the FlagSet that are no keys (--config itself).
	Skip []string
	// Checks check the values of flags, by flag name, beyond their type
	// (an address, a name from a list): each value that is not the
	// default, each element of an array, whatever its source. An empty
	// string is not checked: it is every such flag's "off".
	Checks map[string]func(string) error
}

// DefaultPaths returns the files searched without --config, in order:
// $XDG_CONFIG_HOME/lodestone/config.toml (else ~/.config/lodestone/
// config.toml), then /etc/lodestone/config.toml for a system service.
func DefaultPaths(lookupEnv func(string) (string, bool)) []string {
	var paths []string
	if d, ok := lookupEnv("XDG_CONFIG_HOME"); ok && filepath.IsAbs(d) {
		paths = append(paths, filepath.Join(d, "lodestone", "config.toml"))
	} else if h, ok := lookupEnv("HOME"); ok && filepath.IsAbs(h) {
		paths = append(paths, filepath.Join(h, ".config", "lodestone", "config.toml"))
	}
	return append(paths, filepath.Join("/etc", "lodestone", "config.toml"))
}

// Keys returns the keys of fs (whose flags must implement flag.Getter)
// and the keys beside them, bound to the variables of a new Config, in
// the order Values lists them. It is what WriteInit and the docs list.
func Keys(fs *flag.FlagSet, skip ...string) ([]Key, error) {
	keys, _, err := keysOf(fs, skip)
	return keys, err
}

// keysOf returns the keys and the Config their extra keys are bound to.
func keysOf(fs *flag.FlagSet, skip []string) ([]Key, *Config, error) {
	var keys []Key
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(skip, f.Name) {
			return
		}
		k, err := keyOfFlag(f)
		if err != nil {
			errs = append(errs, err)
			return
		}
		keys = append(keys, k)
	})
	c := &Config{LogLevels: map[string]slog.Level{}}
	keys = append(keys, c.extraKeys()...)
	for i := range keys {
		keys[i].Env = envName(keys[i].Name)
		keys[i].Runtime = keys[i].Runtime || runtimeFlags[keys[i].Flag]
		keys[i].Secret = secretFlags[keys[i].Flag]
	}
	return keys, c, errors.Join(errs...)
}

// runtimeFlags are the serve flags whose keys a reload applies while the
// daemon runs; every other flag's key takes a restart.
// The network ones are session.set's too (issue 18): applied live, or
// reported pending a restart by the daemon.
var runtimeFlags = map[string]bool{
	"blocklist": true, "log-level": true,
	"bind-interface": true, "bind-address": true, "proxy": true, "proxy-only": true,
	"encryption": true, "anonymous": true,
}

// secretFlags are the flags whose values are masked. A NATS URL may hold
// a password as a proxy URL does (nats://user:pass@host:4222).
var secretFlags = map[string]bool{"token": true, "proxy": true, "cluster": true, "cluster-password": true}

// tableKeys names the keys of the serve flags kept in a table rather than
// at the top level: cluster mode's, which a file gives together in
// [cluster] (their variables are LODESTONE_CLUSTER_*, after the key).
var tableKeys = map[string]string{
	"cluster":                "cluster.url",
	"cluster-embedded":       "cluster.embedded",
	"node-id":                "cluster.node_id",
	"cluster-name":           "cluster.name",
	"cluster-user":           "cluster.user",
	"cluster-password":       "cluster.password",
	"cluster-creds":          "cluster.creds",
	"cluster-tls-ca":         "cluster.tls_ca",
	"cluster-tls-cert":       "cluster.tls_cert",
	"cluster-tls-key":        "cluster.tls_key",
	"cluster-client-addr":    "cluster.client_addr",
	"cluster-listen":         "cluster.listen",
	"cluster-routes":         "cluster.routes",
	"max-tasks":              "cluster.max_tasks",
	"cluster-failover-after": "cluster.failover_after",
}

func keyOfFlag(f *flag.Flag) (Key, error) {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return Key{}, fmt.Errorf("flag %s: its value has no Get method", f.Name)
	}
	name := tableKeys[f.Name]
	if name == "" {
		name = strings.ReplaceAll(f.Name, "-", "_")
	}
	k := Key{Name: name, Flag: f.Name, Usage: f.Usage, value: f.Value}
	switch g.Get().(type) {
	case string:
		k.Kind = KindString
	case bool:
		k.Kind = KindBool
	case int, int64, uint, uint64:
		k.Kind = KindInt
	case float64:
		k.Kind = KindFloat
	case time.Duration:
		k.Kind = KindDuration
	case []string:
		k.Kind = KindList
	default:
		return Key{}, fmt.Errorf("flag %s: values of type %T cannot be configured", f.Name, g.Get())
	}
	k.Default = render(k)
	return k, nil
}

// extraKeys are the keys without a serve flag, bound to c.
func (c *Config) extraKeys() []Key {
	s := &c.Session
	keys := []Key{
		{Name: "session.download_rate_limit", Kind: KindInt, value: nonNegative[int64]{&s.DownloadRateLimit},
			Usage: "cap on the whole daemon's download rate, bytes per second (0: none)"},
		{Name: "session.upload_rate_limit", Kind: KindInt, value: nonNegative[int64]{&s.UploadRateLimit},
			Usage: "cap on the whole daemon's upload rate, bytes per second (0: none)"},
		{Name: "session.max_active_downloads", Kind: KindInt, value: nonNegative[int]{&s.MaxActiveDownloads},
			Usage: "how many tasks download at once; the others wait queued (0: no limit)"},
		{Name: "session.max_active_seeds", Kind: KindInt, value: nonNegative[int]{&s.MaxActiveSeeds},
			Usage: "how many finished tasks upload at once; the others wait queued (0: no limit)"},
		{Name: "session.seed_ratio_limit", Kind: KindFloat, value: nonNegative[float64]{&s.SeedRatioLimit},
			Usage: "stop seeding a task once uploaded/size reaches this ratio (0: never)"},
		{Name: "session.seed_time_limit", Kind: KindInt, value: nonNegative[int64]{&s.SeedTimeLimit},
			Usage: "stop seeding a task this many seconds after it finished (0: never)"},
		{Name: "session.seed_idle_limit", Kind: KindInt, value: nonNegative[int64]{&s.SeedIdleLimit},
			Usage: "stop seeding a task after this many seconds without uploading (0: never)"},
		{Name: "session.download_dir", Kind: KindString, value: absPath{&s.DownloadDir},
			Usage: "default download dir of new tasks, an absolute path inside download_dir or a download_root (empty: download_dir itself)"},
		{Name: "log_levels", Kind: KindLevels, value: levelsValue{c.LogLevels},
			Usage: "a log level per component, overriding log_level for it: " + strings.Join(logging.Components(), ", ")},
	}
	for i := range keys {
		keys[i].Runtime = true
		keys[i].Default = render(keys[i])
	}
	return keys
}

// envName is key's environment variable.
func envName(key string) string {
	return "LODESTONE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Load settles the configuration: fs must have parsed the command line;
// every key it did not set is set from the environment, else the file,
// through the flag's own Set, so its checks apply. Every bad key and
// value is reported, the file's with its path and line, in one joined
// error.
func Load(fs *flag.FlagSet, opts Options) (*Config, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	keys, c, err := keysOf(fs, opts.Skip)
	if err != nil {
		return nil, err
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	var file map[string]fileValue
	if c.File, err = findFile(opts); err != nil {
		return nil, err
	}
	if c.File != "" {
		if file, err = readFile(c.File); err != nil {
			return nil, err
		}
	}
	var errs lineErrors
	known := map[string]bool{}
	for _, k := range keys {
		known[k.Name] = true
	}
	for name, fv := range file {
		if !known[name] {
			errs.add(fv.line, fmt.Errorf("%s:%d: unknown key %q%s", c.File, fv.line, name, suggest(name, keys)))
		}
	}
	for _, k := range keys {
		v := Value{Key: k}
		if onCommandLine[k.Flag] && k.Flag != "" {
			v.Source = Source{Kind: FromFlag}
			if err := check(k, opts.Checks[k.Flag]); err != nil {
				errs.add(0, fmt.Errorf("--%s: %w", k.Flag, err))
			}
		} else if s, ok := opts.LookupEnv(k.Env); ok {
			v.Source = Source{Kind: FromEnv, Env: k.Env}
			err := setFromEnv(k, s)
			if err == nil {
				err = check(k, opts.Checks[k.Flag])
			}
			if err != nil {
				if !k.Secret {
					// The flag package's errors do not say what
					// they were given.
					err = fmt.Errorf("%q: %w", s, err)
				}
				errs.add(0, fmt.Errorf("%s: key %s: %w", k.Env, k.Name, err))
			}
		} else if fv, ok := file[k.Name]; ok {
			v.Source = Source{Kind: FromFile, File: c.File, Line: fv.line}
			line, err := setFromFile(k, fv)
			if err == nil {
				err = check(k, opts.Checks[k.Flag])
			}
			if err != nil {
				errs.add(line, fmt.Errorf("%s:%d: key %s: %w", c.File, line, k.Name, err))
			}
		}
		v.Text = render(k)
		c.values = append(c.values, v)
	}
	if err := errs.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// check applies a flag's check to k's value, or to each element of an
// array.
func check(k Key, fn func(string) error) error {
	if fn == nil {
		return nil
	}
	var values []string
	switch v := k.value.(flag.Getter).Get().(type) {
	case string:
		values = []string{v}
	case []string:
		values = v
	}
	for _, v := range values {
		if v == "" {
			continue
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

// findFile returns the file to read: opts.Path, which must exist, or the
// first of DefaultPaths that does, or "".
func findFile(opts Options) (string, error) {
	if opts.Path != "" {
		if _, err := os.Stat(opts.Path); err != nil {
			return "", fmt.Errorf("config file: %w", err)
		}
		return opts.Path, nil
	}
	for _, p := range DefaultPaths(opts.LookupEnv) {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("config: %w", err)
		}
	}
	return "", nil
}

// setFromEnv sets k from a variable's text: arrays are comma-separated.
func setFromEnv(k Key, s string) error {
	switch k.Kind {
	case KindList, KindLevels:
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				if err := k.value.Set(item); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if k.Kind == KindDuration {
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("want a duration such as 24h or 90m: %w", err)
		}
	}
	return k.value.Set(s)
}

// setFromFile sets k from a decoded TOML value, whose type must be the
// key's; it returns the line of the mistake with its error.
func setFromFile(k Key, fv fileValue) (int, error) {
	if k.Kind == KindLevels {
		m, ok := fv.v.(map[string]any)
		if !ok {
			return fv.line, fmt.Errorf("want a table of component = \"level\", not %s", tomlType(fv.v))
		}
		for _, comp := range sortedKeys(m) {
			line := cmp.Or(fv.lines[comp], fv.line)
			s, ok := m[comp].(string)
			if !ok {
				return line, fmt.Errorf("%s: want a level in a string, not %s", comp, tomlType(m[comp]))
			}
			if err := k.value.Set(comp + "=" + s); err != nil {
				return line, err
			}
		}
		return 0, nil
	}
	return fv.line, setValue(k, fv.v)
}

// setValue sets k from a decoded TOML value, whose type must be the
// key's.
func setValue(k Key, v any) error {
	switch k.Kind {
	case KindString, KindDuration:
		s, ok := v.(string)
		if !ok {
			if k.Kind == KindDuration {
				return fmt.Errorf("want a duration in a string, such as \"24h\" or \"90m\", not %s", tomlType(v))
			}
			return fmt.Errorf("want a string, not %s", tomlType(v))
		}
		if k.Kind == KindDuration {
			if _, err := time.ParseDuration(s); err != nil {
				return fmt.Errorf("want a duration such as \"24h\" or \"90m\": %w", err)
			}
		}
		return k.value.Set(s)
	case KindBool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false, not %s", tomlType(v))
		}
		return k.value.Set(strconv.FormatBool(b))
	case KindInt:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("want an integer, not %s", tomlType(v))
		}
		return k.value.Set(strconv.FormatInt(n, 10))
	case KindFloat:
		switch n := v.(type) {
		case int64:
			return k.value.Set(strconv.FormatInt(n, 10))
		case float64:
			return k.value.Set(strconv.FormatFloat(n, 'g', -1, 64))
		}
		return fmt.Errorf("want a number, not %s", tomlType(v))
	case KindList:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want an array of strings, such as [\"a\", \"b\"], not %s", tomlType(v))
		}
		for _, item := range arr {
			s, ok := item.(string)
			if !ok {
				return fmt.Errorf("want an array of strings, not one holding %s", tomlType(item))
			}
			if err := k.value.Set(s); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown kind %d", k.Kind)
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

// suggest is the " (did you mean ...)" for an unknown key, or "".
func suggest(name string, keys []Key) string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.Name
	}
	if best := typo.Nearest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// mask hides a secret: a URL's password, or the whole value; in an
// array, each element's.
func mask(text string) string {
	if strings.HasPrefix(text, "[") {
		var doc struct {
			V []string `toml:"v"`
		}
		if err := toml.Unmarshal([]byte("v = "+text), &doc); err != nil {
			return quote("xxxxx")
		}
		q := make([]string, len(doc.V))
		for i, s := range doc.V {
			q[i] = mask(quote(s))
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	s, err := strconv.Unquote(text)
	if err != nil || s == "" {
		return text
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return quote(u.String())
		}
		return text
	}
	return quote("xxxxx")
}

// lineErrors are errors to report in the order of their lines (0: not the
// file's, first).
type lineErrors []lineError

type lineError struct {
	line int
	err  error
}

func (e *lineErrors) add(line int, err error) { *e = append(*e, lineError{line, err}) }

func (e lineErrors) join() error {
	slices.SortStableFunc(e, func(a, b lineError) int { return cmp.Compare(a.line, b.line) })
	errs := make([]error, len(e))
	for i, le := range e {
		errs[i] = le.err
	}
	return errors.Join(errs...)
}
