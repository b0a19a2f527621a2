package apiserver

import "testing"

func TestHostAllowed(t *testing.T) {
	s := &Server{cfg: Config{Hosts: []string{"nas.home.arpa"}}}
	for host, want := range map[string]bool{
		"127.0.0.1:6810":       true,
		"[::1]:6810":           true,
		"localhost:6810":       true,
		"LOCALHOST.":           true,
		"app.localhost:1":      true,
		"192.168.1.5:6810":     true,
		"nas.home.arpa:6810":   true,
		"evil.example:6810":    false,
		"localhost.evil.com:1": false,
		"":                     false,
		"127.0.0.1.nip.io:80":  false,
	} {
		if got := s.hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:6810", "127.0.0.1:6810", true},
		{"https://LOCALHOST:6810", "localhost:6810", true},
		{"http://127.0.0.1:6811", "127.0.0.1:6810", false},
		{"http://evil.example", "127.0.0.1:6810", false},
		{"null", "127.0.0.1:6810", false},
		{"127.0.0.1:6810", "127.0.0.1:6810", false},
	} {
		if got := sameOrigin(tc.origin, tc.host); got != tc.want {
			t.Errorf("sameOrigin(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
}
