package stream

import (
	"mime"
	"path"
	"strings"
)

// mediaTypes are the types of the files torrents are mostly streamed for,
// which Go's own table lacks or (on some systems, from the local
// mime.types) gets differently. Browsers play media by sniffing the
// container, but pick the player (and whether to download) by this type.
var mediaTypes = map[string]string{
	// Video.
	".mp4":  "video/mp4",
	".m4v":  "video/mp4",
	".mkv":  "video/x-matroska",
	".webm": "video/webm",
	".mov":  "video/quicktime",
	".avi":  "video/x-msvideo",
	".wmv":  "video/x-ms-wmv",
	".flv":  "video/x-flv",
	".mpg":  "video/mpeg",
	".mpeg": "video/mpeg",
	".ts":   "video/mp2t",
	".m2ts": "video/mp2t",
	".3gp":  "video/3gpp",
	".ogv":  "video/ogg",
	// Audio.
	".mp3":  "audio/mpeg",
	".m4a":  "audio/mp4",
	".m4b":  "audio/mp4",
	".aac":  "audio/aac",
	".flac": "audio/flac",
	".ogg":  "audio/ogg",
	".oga":  "audio/ogg",
	".opus": "audio/ogg",
	".wav":  "audio/wav",
	".weba": "audio/webm",
	".mka":  "audio/x-matroska",
	".wma":  "audio/x-ms-wma",
	// Subtitles and text that comes with them.
	".srt": "application/x-subrip",
	".vtt": "text/vtt; charset=utf-8",
	".ass": "text/x-ssa",
	".ssa": "text/x-ssa",
	".txt": "text/plain; charset=utf-8",
	".nfo": "text/plain",
	".md":  "text/markdown; charset=utf-8",
	// Images and documents Go's table may lack.
	".jxl":  "image/jxl",
	".epub": "application/epub+zip",
	".cbz":  "application/vnd.comicbook+zip",
	// Archives and disk images.
	".iso":     "application/x-iso9660-image",
	".zip":     "application/zip",
	".rar":     "application/vnd.rar",
	".7z":      "application/x-7z-compressed",
	".tar":     "application/x-tar",
	".xz":      "application/x-xz",
	".zst":     "application/zstd",
	".torrent": "application/x-bittorrent",
}

// contentType returns the type of the file at p by its extension: ours,
// then Go's (and the system's) table, else application/octet-stream. It
// never looks at the content: sniffing would wait for the file's first
// piece, and the type of a stranger's file must not be guessed into HTML.
func contentType(p string) string {
	ext := strings.ToLower(path.Ext(p))
	if ext == "" {
		return "application/octet-stream"
	}
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}
