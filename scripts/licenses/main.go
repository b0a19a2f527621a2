// Command licenses lists the licenses of everything compiled into the
// lodestone binary and writes them to docs/LICENSES.md:
//
//	go run ./scripts/licenses          # regenerate docs/LICENSES.md
//	go run ./scripts/licenses -check   # fail if it is stale
//
// The modules are those `go list -tags nosqlite -deps ./cmd/lodestone`
// reports for scripts/build's targets (linux/amd64 and linux/arm64, cgo on: the
// CGO_ENABLED=0 build has a subset of them). Each module's license is
// read from the license file in its module cache directory and
// classified by its text (see classify.go). The Go standard library, the
// C/C++ sources compiled in through cgo and the embedded web UI are
// listed too.
//
// It exits non-zero when a license is not one Apache-2.0 code may ship
// (GPL, LGPL, AGPL, or a text it cannot classify), or with -check when
// docs/LICENSES.md differs from what it would write.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// output is the generated file, relative to the repository root.
const output = "docs/LICENSES.md"

// buildTags are scripts/build's: nosqlite leaves out the engine's SQLite
// piece-completion store, which Lodestone does not use (it picks the bolt
// one), and with it the cgo SQLite and github.com/go-llsqlite/adapter.
const buildTags = "nosqlite"

// targets are scripts/build's cgo targets: their module sets are listed
// together, in case a dependency is platform-specific.
var targets = []string{"linux/amd64", "linux/arm64"}

func main() {
	check := flag.Bool("check", false, "do not write: exit 1 if "+output+" is stale")
	flag.Parse()
	if err := run(*check, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "licenses:", err)
		os.Exit(1)
	}
}

func run(check bool, stdout io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	rep, err := collect(root)
	if err != nil {
		return err
	}
	doc := rep.markdown()
	var errs []error
	for _, m := range rep.all() {
		if !allowed(m.License) {
			errs = append(errs, fmt.Errorf("%s %s: license %s (%s) is not compatible with shipping Lodestone under Apache-2.0", m.Path, m.Version, m.License, m.File))
		}
	}
	path := filepath.Join(root, output)
	if check {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(old, doc) {
			errs = append(errs, fmt.Errorf("%s is stale: run go run ./scripts/licenses and commit it", output))
		}
	} else if err := os.WriteFile(path, doc, 0o644); err != nil {
		return err
	} else {
		fmt.Fprintf(stdout, "wrote %s: %d modules\n", output, len(rep.modules))
	}
	return errors.Join(errs...)
}

// repoRoot is the main module's directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// entry is one licensed component of the binary.
type entry struct {
	Path    string // module path, or a name
	Version string
	License string // SPDX expression, or "unknown"
	File    string // the license file it was read from, relative to the module
	Note    string
}

type report struct {
	self    entry   // Lodestone itself
	std     entry   // the Go standard library and runtime
	modules []entry // Go modules, sorted by path
	cgo     []entry // modules with C or C++ sources compiled in
	web     []entry // npm packages bundled into the web UI
}

func (r *report) all() []entry {
	all := append([]entry{r.self, r.std}, r.modules...)
	return append(all, r.web...)
}

// listed is the part of `go list -json` read here.
type listed struct {
	ImportPath string
	Standard   bool
	CFiles     []string
	CXXFiles   []string
	Module     *struct {
		Path    string
		Version string
		Dir     string
		Main    bool
		Replace *struct {
			Path    string
			Version string
			Dir     string
		}
	}
}

func collect(root string) (*report, error) {
	r := &report{}
	var err error
	r.self, err = classifyDir("github.com/lodestone-bt/lodestone", "", root)
	if err != nil {
		return nil, err
	}
	r.self.Note = "this repository"
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	r.std, err = classifyDir("Go standard library and runtime", "", strings.TrimSpace(string(goroot)))
	if err != nil {
		return nil, err
	}
	mods := map[string]entry{}
	cgo := map[string]bool{}
	for _, target := range targets {
		goos, goarch, _ := strings.Cut(target, "/")
		cmd := exec.Command("go", "list", "-tags", buildTags, "-deps", "-json=ImportPath,Standard,CFiles,CXXFiles,Module", "./cmd/lodestone")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=1")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list for %s: %w", target, err)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var p listed
			if err := dec.Decode(&p); err != nil {
				return nil, err
			}
			if p.Standard || p.Module == nil || p.Module.Main {
				continue
			}
			m := p.Module
			if len(p.CFiles)+len(p.CXXFiles) > 0 {
				cgo[m.Path] = true
			}
			if _, ok := mods[m.Path]; ok {
				continue
			}
			dir, version := m.Dir, m.Version
			var e entry
			if m.Replace != nil && strings.HasPrefix(m.Replace.Path, "./") {
				// Replaced by a directory of this repository (goutp):
				// it is Lodestone's code, under its license.
				e = r.self
				e.Path, e.Version = m.Path, m.Replace.Path
				e.Note = "this repository (" + m.Replace.Path + ", replaces the module)"
			} else {
				if m.Replace != nil {
					dir, version = m.Replace.Dir, m.Replace.Version
				}
				if e, err = classifyDir(m.Path, version, dir); err != nil {
					return nil, err
				}
				if o, ok := overrides[m.Path]; ok && e.License == "unknown" {
					e.License, e.Note = o.license, o.why
				}
			}
			mods[m.Path] = e
		}
	}
	for _, e := range mods {
		r.modules = append(r.modules, e)
		if cgo[e.Path] {
			c := e
			c.Note = cgoNote(e, dirOf(root, e))
			r.cgo = append(r.cgo, c)
		}
	}
	slices.SortFunc(r.modules, func(a, b entry) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(r.cgo, func(a, b entry) int { return strings.Compare(a.Path, b.Path) })
	r.web, err = webDeps(root)
	return r, err
}

// override is a license read elsewhere than the module's own files, for
// a module whose zip has no license file. Each says why.
type override struct{ license, why string }

var overrides = map[string]override{}

// licenseFile matches the names license files go by.
var licenseFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|unlicense)([-._].*)?$`)

// classifyDir classifies the license files at the top of dir.
func classifyDir(path, version, dir string) (entry, error) {
	e := entry{Path: path, Version: version, License: "unknown"}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return e, fmt.Errorf("%s: %w (run go mod download)", path, err)
	}
	var found, files []string
	for _, d := range ents {
		if d.IsDir() || !licenseFile.MatchString(d.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			return e, err
		}
		files = append(files, d.Name())
		for _, l := range classify(string(b)) {
			if !slices.Contains(found, l) {
				found = append(found, l)
			}
		}
	}
	e.File = strings.Join(files, ", ")
	if len(found) > 0 {
		slices.Sort(found)
		e.License = strings.Join(found, " AND ")
	}
	return e, nil
}

// dirOf is the directory an entry's files were read from.
func dirOf(root string, e entry) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{if .Replace}}{{.Replace.Dir}}{{else}}{{.Dir}}{{end}}", e.Path).Output()
	if err != nil {
		return root
	}
	return strings.TrimSpace(string(out))
}

// cgoNote names whose C/C++ code a cgo module compiles in: the first
// copyright line of its license file.
func cgoNote(e entry, dir string) string {
	first, _, _ := strings.Cut(e.File, ", ")
	b, err := os.ReadFile(filepath.Join(dir, first))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(strings.TrimSpace(line), "Copyright") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// webDeps lists the npm packages bundled into the embedded web UI: the
// production dependencies of web/package.json. Development ones (the
// TypeScript compiler) build it but are not shipped.
func webDeps(root string) ([]entry, error) {
	b, err := os.ReadFile(filepath.Join(root, "web", "package.json"))
	if err != nil {
		return nil, err
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("web/package.json: %w", err)
	}
	var out []entry
	for name, version := range pkg.Dependencies {
		e, err := classifyDir(name, version, filepath.Join(root, "web", "node_modules", name))
		if err != nil {
			return nil, fmt.Errorf("web dependency (run npm ci in web/): %w", err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (r *report) markdown() []byte {
	var b bytes.Buffer
	b.WriteString(`# Licenses

<!-- Generated by go run ./scripts/licenses; do not edit. The test
scripts/licenses TestLicensesCurrent fails when this file is stale. -->

Lodestone is licensed under the Apache License, Version 2.0 (see LICENSE).
The ` + "`lodestone`" + ` binary that scripts/build makes (linux/amd64 and linux/arm64,
with cgo or without) contains the code listed here, each part under its own
license; every one of them allows shipping it inside an Apache-2.0 program.
A CGO_ENABLED=0 build contains the same minus the cgo part (libutp).

`)
	counts := map[string]int{}
	for _, m := range r.modules {
		counts[m.License]++
	}
	lics := make([]string, 0, len(counts))
	for l := range counts {
		lics = append(lics, l)
	}
	slices.Sort(lics)
	b.WriteString("## Summary\n\n| License | Go modules |\n| --- | --- |\n")
	for _, l := range lics {
		fmt.Fprintf(&b, "| %s | %d |\n", l, counts[l])
	}
	fmt.Fprintf(&b, "\n## Lodestone and the Go runtime\n\n| Component | License | File |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| %s | %s | %s |\n", r.self.Path, r.self.License, r.self.File)
	fmt.Fprintf(&b, "| %s | %s | $GOROOT/%s |\n", r.std.Path, r.std.License, r.std.File)
	b.WriteString("\n## C and C++ code compiled in through cgo\n\n")
	b.WriteString("Only in the cgo builds. libstdc++ and libgcc are linked in statically (GCC Runtime Library Exception); glibc is linked dynamically, from the system that runs the binary.\n\n")
	b.WriteString("| Module | Version | License | Copyright |\n| --- | --- | --- | --- |\n")
	for _, m := range r.cgo {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.Path, m.Version, m.License, m.Note)
	}
	b.WriteString("\n## Go modules\n\n| Module | Version | License | File | Note |\n| --- | --- | --- | --- | --- |\n")
	for _, m := range r.modules {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", m.Path, m.Version, m.License, m.File, m.Note)
	}
	b.WriteString("\n## Web UI\n\n")
	b.WriteString("The web UI embedded in the binary (internal/webui/dist) is Lodestone's own TypeScript (web/), compiled by the TypeScript compiler (Apache-2.0, a development dependency only, not shipped).\n")
	if len(r.web) == 0 {
		b.WriteString("web/package.json has no production dependencies, so no npm package's code is bundled into it.\n")
	} else {
		b.WriteString("\n| npm package | Version | License | File |\n| --- | --- | --- | --- |\n")
		for _, m := range r.web {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", m.Path, m.Version, m.License, m.File)
		}
	}
	return b.Bytes()
}
