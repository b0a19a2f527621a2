package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --token-file keeps the token out of ps (issue 15, item 12).
func TestTokenFrom(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	if err := os.WriteFile(good, []byte("  Zq3-u8_Lw0pXv2Rk7Nn4Yb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name          string
		flag          string
		onCommandLine bool
		file          string
		want, err     string
	}{
		{"neither", "", false, "", "", ""},
		{"--token or the environment", "from-flag", false, "", "from-flag", ""},
		{"--token-file, whitespace trimmed", "", false, good, "Zq3-u8_Lw0pXv2Rk7Nn4Yb", ""},
		{"--token-file over the environment", "from-env", false, good, "Zq3-u8_Lw0pXv2Rk7Nn4Yb", ""},
		{"both on the command line", "from-flag", true, good, "", "not both"},
		{"missing file", "", false, filepath.Join(dir, "nope"), "", "token-file"},
		{"empty file", "", false, empty, "", "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tokenFrom(tc.flag, tc.onCommandLine, tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("tokenFrom: %q, %v; want an error about %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("tokenFrom: %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
