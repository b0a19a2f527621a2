package main

import (
	"regexp"
	"strings"
)

// A rule recognises one license by phrases of its text that other
// licenses do not have. Every phrase of a rule must be present; none of
// its unless phrases may be. The phrases are matched against normalize's
// output: lower case, words separated by single spaces, no punctuation
// or comment markers, so line wrapping and "//" or "*" prefixes do not
// matter.
type rule struct {
	license string
	all     []string
	unless  []string
}

// rules are tried in order; every rule that matches adds its license
// (a file may hold two, e.g. MIT and a third party's BSD notice).
var rules = []rule{
	{license: "Apache-2.0", all: []string{"apache license", "version 2 0", "terms and conditions for use reproduction and distribution"}},
	{license: "Apache-2.0", all: []string{"licensed under the apache license version 2 0"}},
	{license: "MPL-2.0", all: []string{"mozilla public license version 2 0"}},
	{license: "MIT", all: []string{"permission is hereby granted free of charge to any person obtaining a copy", "the above copyright notice and this permission notice shall be included"}},
	{license: "ISC", all: []string{"permission to use copy modify and or distribute this software for any purpose with or without fee is hereby granted provided that the above copyright notice and this permission notice appear in all copies"}},
	{license: "ISC", all: []string{"permission to use copy modify and distribute this software for any purpose with or without fee is hereby granted provided that the above copyright notice and this permission notice appear in all copies"}},
	{license: "BSD-3-Clause", all: []string{"redistribution and use in source and binary forms with or without modification are permitted", "neither the name"}},
	{license: "BSD-2-Clause", all: []string{"redistribution and use in source and binary forms with or without modification are permitted", "redistributions in binary form must reproduce"}, unless: []string{"neither the name", "names of its contributors may be used"}},
	{license: "Unlicense", all: []string{"this is free and unencumbered software released into the public domain"}},
	{license: "CC0-1.0", all: []string{"creative commons", "cc0 1 0 universal"}},
	// The GNU licenses by their title lines. The MPL's text names them
	// (as Secondary Licenses) but never with their dates, so it does not
	// match here.
	{license: "GPL-2.0", all: []string{"gnu general public license version 2 june 1991"}},
	{license: "GPL-3.0", all: []string{"gnu general public license version 3 29 june 2007"}},
	{license: "LGPL-2.0", all: []string{"gnu library general public license version 2 june 1991"}},
	{license: "LGPL-2.1", all: []string{"gnu lesser general public license version 2 1 february 1999"}},
	{license: "LGPL-3.0", all: []string{"gnu lesser general public license version 3 29 june 2007"}},
	{license: "AGPL-3.0", all: []string{"gnu affero general public license version 3 19 november 2007"}},
}

// compatible are the licenses whose code an Apache-2.0 program may ship
// in its binary without changing its own terms. MPL-2.0's copyleft is per
// file: its files stay MPL (their source is public in the module proxy).
// The GNU licenses are not: GPL and AGPL would cover the whole binary,
// and LGPL code linked statically, as Go links, too.
var compatible = map[string]bool{
	"Apache-2.0":   true,
	"MIT":          true,
	"ISC":          true,
	"BSD-2-Clause": true,
	"BSD-3-Clause": true,
	"MPL-2.0":      true,
	"Unlicense":    true,
	"CC0-1.0":      true,
}

// allowed reports whether every license of an expression ("A AND B") is
// compatible.
func allowed(expr string) bool {
	for l := range strings.SplitSeq(expr, " AND ") {
		if !compatible[l] {
			return false
		}
	}
	return true
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// normalize lowers text and reduces every run of non-alphanumerics to one
// space.
func normalize(text string) string {
	return " " + strings.TrimSpace(nonWord.ReplaceAllString(strings.ToLower(text), " ")) + " "
}

// classify returns the licenses whose rules match text, in rule order,
// each once; none for a text no rule knows.
func classify(text string) []string {
	t := normalize(text)
	var out []string
	for _, r := range rules {
		if matches(t, r) && !contains(out, r.license) {
			out = append(out, r.license)
		}
	}
	return out
}

func matches(t string, r rule) bool {
	for _, p := range r.all {
		if !strings.Contains(t, " "+p+" ") {
			return false
		}
	}
	for _, p := range r.unless {
		if strings.Contains(t, " "+p+" ") {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
