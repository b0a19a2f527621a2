package rss

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// benchFeed is an RSS 2.0 document of n items shaped like a tracker's
// feed: a title with an episode, a .torrent enclosure, a magnet in a
// namespaced element, a date.
func benchFeed(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:torrent="http://xmlns.ezrss.it/0.1/"><channel><title>bench</title>`)
	for i := range n {
		fmt.Fprintf(&b, `<item><title>Some Show S%02dE%02d 1080p WEB h264-GROUP</title><guid>https://tracker.example/t/%d</guid>`+
			`<link>https://tracker.example/t/%d</link><pubDate>Mon, 07 Dec 2026 05:%02d:00 +0000</pubDate>`+
			`<enclosure url="https://tracker.example/dl/%d.torrent" type="application/x-bittorrent" length="123456"/>`+
			`<torrent:magnetURI>magnet:?xt=urn:btih:%040x&amp;dn=Some+Show</torrent:magnetURI></item>`,
			i/20+1, i%20+1, i, i, i%60, i, i)
	}
	b.WriteString(`</channel></rss>`)
	return []byte(b.String())
}

// BenchmarkParse measures parsing a 500-item feed (about 190 KB), the
// size of a busy tracker's feed, and recognising each item's episode.
func BenchmarkParse(b *testing.B) {
	data := benchFeed(500)
	base, _ := url.Parse("https://tracker.example/rss")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for range b.N {
		p, err := Parse(data, base)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Items) != 500 {
			b.Fatalf("%d items", len(p.Items))
		}
		for _, it := range p.Items {
			if _, _, ok := Episode(it.Title); !ok {
				b.Fatalf("no episode in %q", it.Title)
			}
		}
	}
}
