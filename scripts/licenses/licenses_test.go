package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClassify classifies real license texts: Debian's copies of the
// common licenses (/usr/share/common-licenses, from base-files) and
// license files of modules in the module cache.
func TestClassify(t *testing.T) {
	modDir := func(path string) string {
		e := entry{Path: path}
		return dirOf("", e)
	}
	tests := []struct {
		file    string
		want    string
		allowed bool
	}{
		{"/usr/share/common-licenses/Apache-2.0", "Apache-2.0", true},
		{"/usr/share/common-licenses/MPL-2.0", "MPL-2.0", true},
		{"/usr/share/common-licenses/BSD", "BSD-3-Clause", true},
		{"/usr/share/common-licenses/CC0-1.0", "CC0-1.0", true},
		{"/usr/share/common-licenses/GPL-2", "GPL-2.0", false},
		{"/usr/share/common-licenses/GPL-3", "GPL-3.0", false},
		{"/usr/share/common-licenses/LGPL-2", "LGPL-2.0", false},
		{"/usr/share/common-licenses/LGPL-2.1", "LGPL-2.1", false},
		{"/usr/share/common-licenses/LGPL-3", "LGPL-3.0", false},
		{filepath.Join(modDir("github.com/anacrolix/go-libutp"), "LICENSE"), "MIT", true},
		{filepath.Join(modDir("github.com/coder/websocket"), "LICENSE.txt"), "ISC", true},
		{filepath.Join(modDir("github.com/pkg/errors"), "LICENSE"), "BSD-2-Clause", true},
		{"../../LICENSE", "Apache-2.0", true},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(filepath.Dir(tt.file))+"/"+filepath.Base(tt.file), func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(classify(string(b)), " AND ")
			if got != tt.want {
				t.Errorf("classify = %q, want %q", got, tt.want)
			}
			if allowed(got) != tt.allowed {
				t.Errorf("allowed(%q) = %v, want %v", got, !tt.allowed, tt.allowed)
			}
		})
	}
	// A text no rule knows, and one that only mentions a license, are
	// unknown: they fail the check rather than pass as something else.
	for _, text := range []string{
		"All rights reserved.",
		"This package is licensed under the GPL.",
		"Copyright 2020 Someone. Permission is hereby granted to use this.",
	} {
		if got := classify(text); len(got) != 0 {
			t.Errorf("classify(%q) = %v, want none", text, got)
		}
	}
	if allowed("MIT AND GPL-3.0") || allowed("unknown") || !allowed("Apache-2.0 AND BSD-3-Clause") {
		t.Error("allowed is wrong about a combination")
	}
}

// TestLicensesCurrent fails when docs/LICENSES.md is not what
// go run ./scripts/licenses writes now (a dependency was added, removed
// or upgraded), or when a license in the build is not compatible.
func TestLicensesCurrent(t *testing.T) {
	if err := run(true, io.Discard); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../" + output)
	if err != nil {
		t.Fatal(err)
	}
	// What the binary must list whatever else changes: the engine, the
	// cgo part and the replaced uTP module.
	for _, want := range []string{
		"| github.com/anacrolix/torrent | v1.62.0 | MPL-2.0 |",
		"| github.com/anacrolix/go-libutp | v1.5.0 | MIT | Copyright (c) 2010-2013 BitTorrent, Inc. |",
		"| github.com/anacrolix/go-utp | ./goutp | Apache-2.0 |",
		"| Go standard library and runtime | BSD-3-Clause |",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("%s lacks %q", output, want)
		}
	}
}
