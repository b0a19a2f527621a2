// Command genschema writes the API's schema files from the api package:
// docs/asyncapi.json, internal/schema/asyncapi.json (the copy the daemon
// embeds) and web/src/api.gen.ts. `go generate ./api` runs it in api/.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodestone-bt/lodestone/internal/schema/gen"
)

func main() {
	root := flag.String("root", "..", "the repository's root (go generate runs this in api/)")
	flag.Parse()
	if err := run(*root); err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
}

func run(root string) error {
	files, err := gen.Generate(filepath.Join(root, "api"))
	if err != nil {
		return err
	}
	for path, data := range map[string][]byte{
		gen.DocsPath:     files.AsyncAPI,
		gen.EmbedPath:    files.AsyncAPI,
		gen.TypeScriptTo: files.TypeScript,
	} {
		if err := os.WriteFile(filepath.Join(root, path), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
