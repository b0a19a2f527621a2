package cli

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// formatBytes renders n bytes for a human: "512 B", "1.5 KiB", "700.0 MiB",
// "4.2 GiB" (binary units, one decimal).
func formatBytes(n int64) string {
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	// Move up a unit when one decimal would round to 1024.0.
	for math.Abs(v) >= 1023.95 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// formatRate renders a rate in bytes per second: "0 B/s", "1.2 MiB/s".
func formatRate(bps int64) string { return formatBytes(bps) + "/s" }

// percent is completed/size as a percentage rounded down to one decimal,
// so that 100.0 means done. ok is false when size is unknown (0).
func percent(completed, size int64) (p float64, ok bool) {
	if size <= 0 {
		return 0, false
	}
	if completed >= size {
		return 100, true
	}
	return math.Floor(float64(completed)*1000/float64(size)) / 10, true
}

// formatPercent renders percent's result: "52.3%", or "-" when unknown.
func formatPercent(completed, size int64) string {
	p, ok := percent(completed, size)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", p)
}

// formatFraction renders a fraction from 0 to 1 as formatPercent does:
// rounded down to one decimal, "100.0%" only when whole.
func formatFraction(f float64) string {
	switch {
	case math.IsNaN(f) || f <= 0:
		return "0.0%"
	case f >= 1:
		return "100.0%"
	}
	// The epsilon keeps a product like 0.29*1000 = 289.99… at 29.0%.
	return fmt.Sprintf("%.1f%%", math.Floor(f*1000+1e-9)/10)
}

// formatETA renders a number of seconds: "45s", "2m05s", "3h07m", "2d04h",
// or "-" when unknown (negative).
func formatETA(s int64) string {
	switch {
	case s < 0:
		return "-"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 100*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// bar renders a text progress bar of width cells: "[#####-----]".
func bar(completed, size int64, width int) string {
	p, _ := percent(completed, size)
	n := int(p / 100 * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat("-", width-n) + "]"
}

// shortID is the first 8 characters of a task id, as ls shows it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// sanitize replaces control characters with U+FFFD: a torrent's name, a
// tracker's URL or a peer's client name is untrusted and could carry
// terminal escapes, or bidirectional controls that make "gpj.exe" show as
// "exe.jpg".
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || bidiControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
}

// bidiControl reports whether r changes the direction of the text around
// it (Unicode's explicit directional formatting characters and marks).
func bidiControl(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}
