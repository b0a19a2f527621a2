package rss

import "testing"

func TestEpisode(t *testing.T) {
	for _, tc := range []struct {
		title, show, episode string
	}{
		{"Show Name S01E02 1080p WEB x264-GRP", "show name", "S01E02"},
		{"Show.Name.S01E02.720p.HDTV", "show name", "S01E02"},
		{"show name s1e2", "show name", "S01E02"},
		{"Show Name - S01.E02 - Title", "show name", "S01E02"},
		{"Show Name S01E02E03 1080p", "show name", "S01E02"},
		{"[Group] Show Name S02E10 [1080p]", "show name", "S02E10"},
		{"Show: Name! S10E100", "show name", "S10E100"},
		{"Show Name 1x02 HDTV", "show name", "S01E02"},
		{"Show Name 12x103", "show name", "S12E103"},
		{"The Daily Show 2026-12-07 Guest", "the daily show", "2026-12-07"},
		{"The.Daily.Show.2026.12.07.Guest.720p", "the daily show", "2026-12-07"},
		{"Nightly News 13.12.2026", "nightly news", "2026-12-13"},
		{"Nightly News 12.13.2026", "nightly news", "2026-12-13"},
		{"Nightly News 07.07.2026", "nightly news", "2026-07-07"},
		{"Late Show 2024-02-29", "late show", "2024-02-29"},
	} {
		show, ep, ok := Episode(tc.title)
		if !ok || show != tc.show || ep != tc.episode {
			t.Errorf("Episode(%q) = %q, %q, %v; want %q, %q", tc.title, show, ep, ok, tc.show, tc.episode)
		}
	}
}

func TestEpisodeNone(t *testing.T) {
	for _, title := range []string{
		"Movie Name 2026 1080p BluRay x264",
		"Movie (2026) 1920x1080",
		"Show Name Season 1 Complete",
		"Show Name S01 Complete 1080p",
		"Show Name S01 720p",
		"Album 320kbps FLAC",
		"Codec H.265 10bit",
		"Nightly News 07.12.2026",     // 7 December or 12 July?
		"Late Show 2026-02-30",        // no such day
		"Late Show 2026-13-01",        // no such month
		"Build 20261207",              // a compact number, not a date
		"Version 1.12.2026.5",         // a version, not a date
		"Resolution 1280x720 sample",  // not 1x02
		"ClassicS01E02 glued to text", // no word boundary before the S
		"",
	} {
		if show, ep, ok := Episode(title); ok {
			t.Errorf("Episode(%q) = %q, %q; want none", title, show, ep)
		}
	}
}
