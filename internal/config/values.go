package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/internal/logging"
)

// render returns k's current value in TOML.
func render(k Key) string {
	var v any
	if g, ok := k.value.(flag.Getter); ok {
		v = g.Get()
	}
	switch x := v.(type) {
	case string:
		return quote(x)
	case time.Duration:
		return quote(x.String())
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case map[string]slog.Level:
		var parts []string
		for _, comp := range sortedKeys(x) {
			parts = append(parts, comp+" = "+quote(strings.ToLower(x[comp].String())))
		}
		if len(parts) == 0 {
			return "{}"
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	}
	return k.value.String()
}

// quote returns s as a TOML basic string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// nonNegative is a number flag.Value refusing negatives (session.set's
// rule: 0 is "no limit").
type nonNegative[T int | int64 | float64] struct{ p *T }

func (v nonNegative[T]) String() string {
	if v.p == nil {
		return "0"
	}
	return fmt.Sprint(*v.p)
}

func (v nonNegative[T]) Get() any { return *v.p }

func (v nonNegative[T]) Set(s string) error {
	var n T
	var err error
	switch p := any(&n).(type) {
	case *int:
		*p, err = strconv.Atoi(s)
	case *int64:
		*p, err = strconv.ParseInt(s, 10, 64)
	case *float64:
		*p, err = strconv.ParseFloat(s, 64)
		if err == nil && *p != *p {
			err = errors.New("not a number")
		}
	}
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	if n < 0 {
		return fmt.Errorf("%s is negative: 0 (no limit) or more, please", s)
	}
	*v.p = n
	return nil
}

// absPath is a path flag.Value: an absolute path, or empty.
type absPath struct{ p *string }

func (v absPath) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v absPath) Get() any { return *v.p }

func (v absPath) Set(s string) error {
	if s != "" && !filepath.IsAbs(s) {
		return fmt.Errorf("%q is not an absolute path", s)
	}
	*v.p = s
	return nil
}

// levelsValue is log_levels' flag.Value: each Set adds "component=level".
type levelsValue struct{ m map[string]slog.Level }

func (v levelsValue) String() string {
	var parts []string
	for _, comp := range sortedKeys(v.m) {
		parts = append(parts, comp+"="+strings.ToLower(v.m[comp].String()))
	}
	return strings.Join(parts, ",")
}

func (v levelsValue) Get() any { return v.m }

func (v levelsValue) Set(s string) error {
	comp, level, ok := strings.Cut(s, "=")
	comp, level = strings.TrimSpace(comp), strings.TrimSpace(level)
	if !ok || comp == "" {
		return fmt.Errorf("%q: want component=level", s)
	}
	if !slices.Contains(logging.Components(), comp) {
		return fmt.Errorf("unknown component %q: want one of %s", comp, strings.Join(logging.Components(), ", "))
	}
	l, err := logging.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("%s: %w", comp, err)
	}
	v.m[comp] = l
	return nil
}

// compareKeys orders keys as files list them: top-level keys first, then
// each table's; in a table, the flags' keys by name (the [cluster] keys are
// not named as their flags), the others in the order given.
func compareKeys(a, b Key) int {
	if c := cmp.Compare(table(a), table(b)); c != 0 || a.Flag == "" || b.Flag == "" {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// table is the table a key is written in: "" for the top level.
func table(k Key) string {
	if k.Kind == KindLevels {
		return k.Name
	}
	if t, _, ok := strings.Cut(k.Name, "."); ok {
		return t
	}
	return ""
}

// leaf is a key's name inside its table.
func leaf(k Key) string {
	if i := strings.LastIndexByte(k.Name, '.'); i >= 0 {
		return k.Name[i+1:]
	}
	return k.Name
}
