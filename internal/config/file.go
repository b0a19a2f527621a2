package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// fileValue is a key's value in the file, decoded, and the line it is on.
type fileValue struct {
	v    any
	line int
	// lines are the lines of a table value's entries (log_levels').
	lines map[string]int
}

// readFile decodes the TOML file at path into its keys, dotted, each with
// its line: a table's keys are "table.key", except log_levels', whose
// table is the key's value.
func readFile(path string) (map[string]fileValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%s:%d:%d: %s", path, row, col, strings.TrimPrefix(de.Error(), "toml: "))
		}
		// A key given twice: the decoder names no line, the parser's
		// walk does.
		if _, werr := keyLines(data); werr != nil {
			return nil, fmt.Errorf("%s:%w", path, werr)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	lines, err := keyLines(data)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	out := map[string]fileValue{}
	flatten("", doc, lines, out)
	return out, nil
}

// flatten puts the leaves of m in out under their dotted names.
func flatten(prefix string, m map[string]any, lines map[string]int, out map[string]fileValue) {
	for k, v := range m {
		name := prefix + k
		if sub, ok := v.(map[string]any); ok && name != "log_levels" {
			flatten(name+".", sub, lines, out)
			continue
		}
		fv := fileValue{v: v, line: lines[name]}
		if sub, ok := v.(map[string]any); ok {
			fv.lines = map[string]int{}
			for k := range sub {
				fv.lines[k] = lines[name+"."+k]
			}
		}
		out[name] = fv
	}
}

// keyLines walks the document with the TOML parser and returns the line
// of every key and table, by dotted name. A key given twice is an error
// naming both lines.
func keyLines(data []byte) (map[string]int, error) {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	table := ""
	for p.NextExpression() {
		e := p.Expression()
		var parts []string
		line := 0
		it := e.Key()
		for it.Next() {
			n := it.Node()
			if line == 0 {
				line = p.Shape(n.Raw).Start.Line
			}
			parts = append(parts, string(n.Data))
		}
		name := strings.Join(parts, ".")
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = name
			if _, ok := lines[name]; !ok {
				lines[name] = line
			}
		case unstable.KeyValue:
			if table != "" {
				name = table + "." + name
			}
			if first, ok := lines[name]; ok {
				return nil, fmt.Errorf("%d: key %s given twice (first on line %d)", line, name, first)
			}
			lines[name] = line
			// A log_levels entry written as a dotted key:
			// log_levels.engine = "debug".
			if strings.HasPrefix(name, "log_levels.") {
				if _, ok := lines["log_levels"]; !ok {
					lines["log_levels"] = line
				}
			}
			if e.Value().Kind == unstable.InlineTable {
				inlineLines(&p, e.Value(), name, line, lines)
			}
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf(" %w", err)
	}
	return lines, nil
}

// inlineLines records the entries of an inline table (all on the table's
// line: TOML keeps an inline table on one line).
func inlineLines(p *unstable.Parser, table *unstable.Node, name string, line int, lines map[string]int) {
	it := table.Children()
	for it.Next() {
		kv := it.Node()
		var parts []string
		kit := kv.Key()
		for kit.Next() {
			parts = append(parts, string(kit.Node().Data))
		}
		lines[name+"."+strings.Join(parts, ".")] = line
	}
}
