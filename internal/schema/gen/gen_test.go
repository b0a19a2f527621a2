package gen

import (
	"bytes"
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
