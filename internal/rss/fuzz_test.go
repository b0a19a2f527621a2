package rss

import (
	"net/url"
	"testing"
)

// FuzzParse feeds Parse arbitrary documents: it must never panic, and what
// it returns must be usable (every link it picks is a magnet or an
// absolute http(s) URL).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`<rss><channel><title>t</title><item><title>S01E02</title><link>magnet:?xt=urn:btih:` + hashA + `</link></item></channel></rss>`,
		`<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x</title><link rel="enclosure" type="application/x-bittorrent" href="/a.torrent"/></entry></feed>`,
		`<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><item><title>x</title><link>http://a/b.torrent</link></item></rdf:RDF>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><rss><channel><item><title>caf` + "\xe9" + `</title></item></channel></rss>`,
		`<rss><channel><item><torznab:attr name="infohash" value="` + hashA + `"/></item></channel></rss>`,
		"<<<",
	} {
		f.Add([]byte(seed))
	}
	base, _ := url.Parse("https://example.org/feed")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, base)
		if err != nil {
			return
		}
		for _, it := range p.Items {
			if it.Link == "" || hasPrefixFold(it.Link, "magnet:") {
				continue
			}
			u, err := url.Parse(it.Link)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				t.Fatalf("link %q is neither a magnet nor an absolute http(s) URL", it.Link)
			}
			Episode(it.Title)
		}
	})
}
