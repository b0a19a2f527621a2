package qbittorrent

import (
	"reflect"
	"slices"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

func TestIsInfoHash(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"0123456789abcdef0123456789ABCDEF01234567", true},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", true}, // base32
		{"abcdefghijklmnopqrstuvwxyz234567", true},
		{"0123456789abcdef0123456789abcdef0123456", false},  // 39
		{"0123456789abcdef0123456789abcdef0123456g", false}, // not hex
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ234561", false},         // 1 is not base32
		{"", false},
		{"/etc/passwd", false},
	} {
		if got := isInfoHash(tc.in); got != tc.want {
			t.Errorf("isInfoHash(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{",, ,", nil},
		{"a", []string{"a"}},
		{" tv , hd,,tv,", []string{"tv", "hd"}},
	} {
		if got := parseTags(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("parseTags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidCategoryName(t *testing.T) {
	for name, want := range map[string]bool{
		"tv": true, "films/hd": true, "a b": true,
		"": false, "/tv": false, "tv/": false, "a//b": false, `a\b`: false,
	} {
		if got := validCategoryName(name); got != want {
			t.Errorf("validCategoryName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestCategoryObject checks the translation of Lodestone's save and
// complete paths to qBittorrent's download path and save path.
func TestCategoryObject(t *testing.T) {
	for _, tc := range []struct {
		in   api.Category
		want map[string]any
	}{
		{api.Category{Name: "tv", SavePath: "/d/tv"}, map[string]any{"name": "tv", "savePath": "/d/tv"}},
		{api.Category{Name: "tv"}, map[string]any{"name": "tv", "savePath": ""}},
		{api.Category{Name: "f", SavePath: "/d/incoming", CompletePath: "/d/films"},
			map[string]any{"name": "f", "savePath": "/d/films", "download_path": "/d/incoming"}},
	} {
		if got := categoryObject(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("categoryObject(%+v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, tc := range []struct {
		in    string
		v, ok bool
	}{
		{"true", true, true}, {"TRUE", true, true}, {"False", false, true},
		{"1", false, false}, {"", false, false}, {"yes", false, false},
	} {
		if v, ok := parseBool(tc.in); v != tc.v || ok != tc.ok {
			t.Errorf("parseBool(%q) = %v, %v; want %v, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}
