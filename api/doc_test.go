package api

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docs/API.md documents every method and event of the catalogue, each
// under a heading that names it and with an example (a request for a
// method, the event's frame for an event), and every error code in the
// error table with its name: a new entry in api/ without its prose fails
// here.
func TestAPIDocCoversCatalogue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var examples strings.Builder
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		examples.WriteString(m[1])
	}
	var headings strings.Builder
	for _, h := range regexp.MustCompile("(?m)^#{3,4} .*$").FindAllString(doc, -1) {
		headings.WriteString(h + "\n")
	}
	has := func(what, name, pattern string) {
		t.Helper()
		if !strings.Contains(headings.String(), "`"+name+"`") {
			t.Errorf("docs/API.md has no heading naming the %s `%s`", what, name)
		}
		if !regexp.MustCompile(pattern).MatchString(examples.String()) {
			t.Errorf("docs/API.md has no example of the %s %s (a JSON block matching %s)", what, name, pattern)
		}
	}
	for _, m := range Methods {
		has("method", m.Name, `"method": ?"`+regexp.QuoteMeta(m.Name)+`"`)
	}
	for _, e := range Events {
		has("event", e.Name, `"name": ?"`+regexp.QuoteMeta(e.Name)+`"`)
	}
	_, table, ok := strings.Cut(doc, "\n## 7. Error codes\n")
	if !ok {
		t.Fatal("docs/API.md has no section 7. Error codes")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	for _, c := range Codes {
		if row := fmt.Sprintf("| `%d` | `%s` |", int(c), c); !strings.Contains(table, row) {
			t.Errorf("docs/API.md's error table has no row %q", row)
		}
	}
}
