package gen

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// docs are what the api package's source says of its types: the doc
// comments that become the schema's descriptions, and the names and
// values of its constants (for the test that every method and event has a
// row in the catalogue).
type docs struct {
	types  map[string]string // type name → doc
	fields map[string]string // "Type.Field" → doc
	consts map[string]string // const name → doc
	codes  map[int]string    // code → its line comment
	// Strings are the string constants: name → value.
	Strings map[string]string
}

// parseDocs reads the api package's Go files (not its tests) in dir.
func parseDocs(dir string) (*docs, error) {
	d := &docs{types: map[string]string{}, fields: map[string]string{}, consts: map[string]string{}, codes: map[int]string{}, Strings: map[string]string{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read api dir: %w", err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse api: %w", err)
		}
		if f.Name.Name != "api" {
			continue
		}
		n++
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				switch sp := spec.(type) {
				case *ast.TypeSpec:
					doc := text(sp.Doc)
					if doc == "" && len(gd.Specs) == 1 {
						doc = text(gd.Doc)
					}
					d.types[sp.Name.Name] = doc
					if st, ok := sp.Type.(*ast.StructType); ok {
						d.structFields(sp.Name.Name, st)
					}
				case *ast.ValueSpec:
					if gd.Tok == token.CONST {
						d.constSpec(sp)
					}
				}
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("no Go files of package api in %s", dir)
	}
	return d, nil
}

func (d *docs) structFields(typ string, st *ast.StructType) {
	for _, f := range st.Fields.List {
		doc := text(f.Doc)
		if doc == "" {
			doc = text(f.Comment)
		}
		for _, n := range f.Names {
			d.fields[typ+"."+n.Name] = doc
		}
	}
}

func (d *docs) constSpec(sp *ast.ValueSpec) {
	doc := text(sp.Doc)
	if doc == "" {
		doc = text(sp.Comment)
	}
	for i, n := range sp.Names {
		d.consts[n.Name] = doc
		if i >= len(sp.Values) {
			continue
		}
		lit, ok := sp.Values[i].(*ast.BasicLit)
		if !ok {
			continue
		}
		switch lit.Kind {
		case token.STRING:
			if s, err := strconv.Unquote(lit.Value); err == nil {
				d.Strings[n.Name] = s
			}
		case token.INT:
			if id, ok := sp.Type.(*ast.Ident); ok && id.Name == "Code" {
				if c, err := strconv.Atoi(lit.Value); err == nil {
					d.codes[c] = text(sp.Comment)
				}
			}
		}
	}
}

// text is a comment's text on one line.
func text(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	return strings.Join(strings.Fields(cg.Text()), " ")
}
