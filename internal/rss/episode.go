package rss

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Episode recognition for dedupe_episodes: a title names an episode as
// S01E02 (or S01.E02, 1x02), or by its air date: 2026-12-07, 2026.12.07,
// or 13.12.2026 / 12.13.2026 when which number is the day is not in
// doubt. The show is the title's text before the marker, normalized.

var (
	// Multi-episode releases (S01E02E03) count as their first episode.
	reSxxEyy = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])s(\d{1,3})[ ._-]?e(\d{1,4})(?:[^0-9]|$)`)
	reNxNN   = regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(\d{1,2})x(\d{2,3})(?:[^a-z0-9]|$)`)
	reYMD    = regexp.MustCompile(`(?:^|[^0-9])((?:19|20)\d{2})[.\- ](\d{2})[.\- ](\d{2})(?:[^0-9]|$)`)
	reDMY    = regexp.MustCompile(`(?:^|[^0-9])(\d{2})[.\-](\d{2})[.\-]((?:19|20)\d{2})(?:[^0-9]|$)`)
	// leadingTags are release-group tags before the show's name:
	// "[Group] Show - S01E02".
	leadingTags = regexp.MustCompile(`^\s*(?:[\[(][^\])]*[\])]\s*)+`)
)

// Episode returns the normalized show name and the episode ("S01E02" or
// "2026-12-07") a title names, or ok false when it names none.
func Episode(title string) (show, episode string, ok bool) {
	if m := reSxxEyy.FindStringSubmatchIndex(title); m != nil {
		s, _ := strconv.Atoi(title[m[2]:m[3]])
		e, _ := strconv.Atoi(title[m[4]:m[5]])
		return showName(title[:m[2]-1]), fmt.Sprintf("S%02dE%02d", s, e), true // before the S
	}
	if m := reNxNN.FindStringSubmatchIndex(title); m != nil {
		s, _ := strconv.Atoi(title[m[2]:m[3]])
		e, _ := strconv.Atoi(title[m[4]:m[5]])
		return showName(title[:m[2]]), fmt.Sprintf("S%02dE%02d", s, e), true
	}
	if m := reYMD.FindStringSubmatchIndex(title); m != nil {
		y, _ := strconv.Atoi(title[m[2]:m[3]])
		mo, _ := strconv.Atoi(title[m[4]:m[5]])
		d, _ := strconv.Atoi(title[m[6]:m[7]])
		if date, ok := validDate(y, mo, d); ok {
			return showName(title[:m[2]]), date, true
		}
	}
	if m := reDMY.FindStringSubmatchIndex(title); m != nil {
		a, _ := strconv.Atoi(title[m[2]:m[3]])
		b, _ := strconv.Atoi(title[m[4]:m[5]])
		y, _ := strconv.Atoi(title[m[6]:m[7]])
		var mo, d int
		switch {
		case a == b:
			d, mo = a, b
		case a > 12 && b <= 12:
			d, mo = a, b // 13.12.2026: day first
		case b > 12 && a <= 12:
			d, mo = b, a // 12.13.2026: month first
		default:
			return "", "", false // 07.12.2026: July or December?
		}
		if date, ok := validDate(y, mo, d); ok {
			return showName(title[:m[2]]), date, true
		}
	}
	return "", "", false
}

func validDate(y, m, d int) (string, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 2026-02-30
		return "", false
	}
	return t.Format("2006-01-02"), true
}

// showName normalizes the text before an episode marker: leading
// [group] tags dropped, lowercased, every run of other than letters and
// digits made one space.
func showName(s string) string {
	s = leadingTags.ReplaceAllString(s, "")
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		} else {
			space = true
		}
	}
	return b.String()
}
