package stream

import "testing"

func TestContentType(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"show/ep1.MKV", "video/x-matroska"},
		{"a/clip.mp4", "video/mp4"},
		{"a/clip.m4v", "video/mp4"},
		{"a/clip.webm", "video/webm"},
		{"a/song.flac", "audio/flac"},
		{"a/song.opus", "audio/ogg"},
		{"a/subs.vtt", "text/vtt; charset=utf-8"},
		{"a/subs.srt", "application/x-subrip"},
		{"a/readme.txt", "text/plain; charset=utf-8"},
		{"a/disk.iso", "application/x-iso9660-image"},
		{"a/index.html", "text/html; charset=utf-8"},
		{"a/pic.png", "image/png"},
		{"a/doc.pdf", "application/pdf"},
		{"a/noext", "application/octet-stream"},
		{"a/.hidden", "application/octet-stream"},
		{"a/x.unknown-ext-zz", "application/octet-stream"},
		{"a.b/noext", "application/octet-stream"},
	} {
		if got := contentType(tc.path); got != tc.want {
			t.Errorf("contentType(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"a/clip.mp4", `inline; filename="clip.mp4"; filename*=UTF-8''clip.mp4`},
		{"a/b/Été 1999 \"x\".mkv", `inline; filename="_t_ 1999 _x_.mkv"; filename*=UTF-8''%C3%89t%C3%A9%201999%20%22x%22.mkv`},
		{"one.bin", `inline; filename="one.bin"; filename*=UTF-8''one.bin`},
		{"a/x\r\ny;.txt", `inline; filename="x__y;.txt"; filename*=UTF-8''x%0D%0Ay%3B.txt`},
	} {
		if got := contentDisposition(tc.path); got != tc.want {
			t.Errorf("contentDisposition(%q) =\n %s, want\n %s", tc.path, got, tc.want)
		}
	}
}

func TestSandboxed(t *testing.T) {
	for ctype, want := range map[string]bool{
		"text/html; charset=utf-8":    true,
		"image/svg+xml":               true,
		"application/xhtml+xml":       true,
		"text/xml; charset=utf-8":     true,
		"text/plain; charset=utf-8":   true,
		"application/octet-stream":    true,
		"image/png":                   true,
		"application/pdf":             false,
		"video/mp4":                   false,
		"audio/wav":                   false,
		"video/x-matroska":            false,
		"application/x-iso9660-image": true,
	} {
		if got := sandboxed(ctype); got != want {
			t.Errorf("sandboxed(%q) = %v, want %v", ctype, got, want)
		}
	}
}
