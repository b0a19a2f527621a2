package cli

import "testing"

func TestSuggest(t *testing.T) {
	t.Parallel()
	names := []string{"add", "ls", "info", "rm", "recheck", "reannounce", "stats", "set"}
	tests := []struct{ word, want string }{
		{"lss", "ls"},
		{"sl", "ls"},
		{"LS", "ls"},
		{"ad", "add"},
		{"imfo", "info"},
		{"rechek", "recheck"},
		{"stat", "stats"},
		{"x", ""},          // too short to guess from
		{"frobnicate", ""}, // nothing near
		{"reanounce", "reannounce"},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, names); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"ls", "sl", 1}, {"kitten", "sitting", 3}, {"abc", "", 3}, {"ca", "abc", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
