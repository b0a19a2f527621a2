package gen

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

const root = "../../.."

// The committed schema files are what the generator makes of the api
// package now: a change to the api's types, or to its catalogue, without
// `go generate ./api` fails here.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Generate(filepath.Join(root, "api"))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{
		DocsPath:     files.AsyncAPI,
		EmbedPath:    files.AsyncAPI,
		TypeScriptTo: files.TypeScript,
	} {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./api)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: it differs from what the api package generates (run go generate ./api)", path)
		}
	}
}

// Every method and event constant of package api has its row in
// api.Methods or api.Events, and every error code its place in api.Codes:
// the schema leaves nothing out.
func TestCatalogueCoversEveryConstant(t *testing.T) {
	d, err := parseDocs(filepath.Join(root, "api"))
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, m := range api.Methods {
		methods[m.Name] = true
	}
	events := map[string]bool{}
	for _, e := range api.Events {
		events[e.Name] = true
	}
	var names []string
	for n := range d.Strings {
		names = append(names, n)
	}
	slices.Sort(names)
	nm, ne := 0, 0
	for _, n := range names {
		v := d.Strings[n]
		switch {
		case strings.HasPrefix(n, "Method"):
			nm++
			if !methods[v] {
				t.Errorf("api.%s (%q) has no row in api.Methods (api/catalog.go): add {Name: api.%s, Params: ..., Result: ...}", n, v, n)
			}
		case strings.HasPrefix(n, "Event"):
			ne++
			if !events[v] {
				t.Errorf("api.%s (%q) has no row in api.Events (api/catalog.go): add {Name: api.%s, Data: ...}", n, v, n)
			}
		}
	}
	if nm < 20 || ne < 10 {
		t.Fatalf("found %d method and %d event constants in api: the source was not read", nm, ne)
	}
	for _, n := range api.EventNames {
		if !events[n] {
			t.Errorf("event %q of api.EventNames has no row in api.Events", n)
		}
	}
	codes := map[int]bool{}
	for _, c := range api.Codes {
		codes[int(c)] = true
	}
	for c := range d.codes {
		if !codes[c] {
			t.Errorf("error code %d is not in api.Codes (api/catalog.go)", c)
		}
	}
	if len(d.codes) < 20 {
		t.Fatalf("found %d error codes in api: the source was not read", len(d.codes))
	}
}

// The Go client declares no wire type of its own: its params, results and
// events are package api's, which the schema is generated from, so the
// two cannot disagree.
func TestGoClientUsesAPITypes(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(root, "client"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		n++
		f, err := parser.ParseFile(fset, filepath.Join(root, "client", e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					if field.Tag != nil && strings.Contains(field.Tag.Value, "json:") {
						t.Errorf("client.%s (%s) has JSON fields: wire types belong in package api, so that the schema describes them", ts.Name.Name, fset.Position(ts.Pos()))
						break
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no client sources found")
	}
}
