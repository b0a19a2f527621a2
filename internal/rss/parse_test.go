package rss

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

const hashA = "0123456789abcdef0123456789abcdef01234567"

func TestParseRSS(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:torznab="http://torznab.com/schemas/2015/feed" xmlns:nyaa="https://nyaa.si/xmlns/nyaa">
<channel>
  <title>  Test   Feed </title>
  <item>
    <title>Magnet in link&nbsp;S01E01</title>
    <link>magnet:?xt=urn:btih:` + hashA + `&amp;dn=a</link>
    <guid isPermaLink="false">item-1</guid>
    <pubDate>Mon, 07 Dec 2026 10:00:00 +0000</pubDate>
  </item>
  <item>
    <title>Torrent enclosure</title>
    <link>https://example.org/page/2</link>
    <enclosure url="/dl/2" length="1000" type="application/x-bittorrent"/>
    <guid>https://example.org/page/2</guid>
  </item>
  <item>
    <title>Torznab magnet beats enclosure</title>
    <enclosure url="https://example.org/dl/3.torrent" type="application/x-bittorrent"/>
    <torznab:attr name="magneturl" value="magnet:?xt=urn:btih:` + hashA + `"/>
    <guid>g3</guid>
  </item>
  <item>
    <title>A .torrent link</title>
    <link>https://example.org/files/4.torrent?key=x</link>
  </item>
  <item>
    <title>Nyaa info-hash</title>
    <link>https://nyaa.example/view/5</link>
    <nyaa:infoHash>` + strings.ToUpper(hashA) + `</nyaa:infoHash>
    <guid>g5</guid>
  </item>
  <item>
    <title>Only a page</title>
    <link>https://example.org/page/6</link>
  </item>
</channel>
</rss>`
	base, _ := url.Parse("https://example.org/feeds/rss.xml")
	p, err := Parse([]byte(doc), base)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Test   Feed" && p.Title != "Test Feed" {
		t.Errorf("title %q", p.Title)
	}
	want := []struct{ guid, link string }{
		{"item-1", "magnet:?xt=urn:btih:" + hashA + "&dn=a"},
		{"https://example.org/page/2", "https://example.org/dl/2"},
		{"g3", "magnet:?xt=urn:btih:" + hashA},
		{"https://example.org/files/4.torrent?key=x", "https://example.org/files/4.torrent?key=x"},
		{"g5", "magnet:?xt=urn:btih:" + hashA + "&dn=Nyaa+info-hash"},
		{"https://example.org/page/6", "https://example.org/page/6"},
	}
	if len(p.Items) != len(want) {
		t.Fatalf("%d items, want %d: %+v", len(p.Items), len(want), p.Items)
	}
	for i, w := range want {
		if got := p.Items[i]; got.GUID != w.guid || got.Link != w.link {
			t.Errorf("item %d: guid %q link %q; want %q %q", i, got.GUID, got.Link, w.guid, w.link)
		}
	}
	if got := p.Items[0].Title; got != "Magnet in link\u00a0S01E01" && got != "Magnet in link S01E01" {
		t.Errorf("title %q", got)
	}
	if got := p.Items[0].Published; !got.Equal(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("published %v", got)
	}
}

func TestParseAtom(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Feed</title>
  <entry>
    <title>Entry one</title>
    <id>urn:uuid:1</id>
    <link href="https://example.org/e/1"/>
    <link rel="enclosure" type="application/x-bittorrent" href="https://example.org/e/1/file"/>
    <published>2026-12-07T10:00:00Z</published>
  </entry>
  <entry>
    <title>Entry two</title>
    <id>urn:uuid:2</id>
    <link rel="alternate" href="magnet:?xt=urn:btih:` + hashA + `"/>
    <updated>2026-12-08T10:00:00+01:00</updated>
  </entry>
  <entry>
    <title>Entry three</title>
    <link href="/e/3.torrent"/>
  </entry>
</feed>`
	base, _ := url.Parse("https://example.org/atom")
	p, err := Parse([]byte(doc), base)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Atom Feed" || len(p.Items) != 3 {
		t.Fatalf("title %q, %d items", p.Title, len(p.Items))
	}
	want := []struct{ guid, link string }{
		{"urn:uuid:1", "https://example.org/e/1/file"},
		{"urn:uuid:2", "magnet:?xt=urn:btih:" + hashA},
		{"https://example.org/e/3.torrent", "https://example.org/e/3.torrent"},
	}
	for i, w := range want {
		if got := p.Items[i]; got.GUID != w.guid || got.Link != w.link {
			t.Errorf("entry %d: guid %q link %q; want %q %q", i, got.GUID, got.Link, w.guid, w.link)
		}
	}
	if !p.Items[1].Published.Equal(time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("updated %v", p.Items[1].Published)
	}
}

func TestParseLatin1(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss><channel><title>Caf\xe9</title><item><title>x</title><link>http://a.example/x.torrent</link></item></channel></rss>"
	p, err := Parse([]byte(doc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "Café" {
		t.Errorf("title %q", p.Title)
	}
}

func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat("<a>", maxDepth+1) + strings.Repeat("</a>", maxDepth+1)
	for name, doc := range map[string]string{
		"garbage":   "this is not xml <<<",
		"html":      "<html><body>Not found</body></html>",
		"empty":     "",
		"truncated": "<rss><channel><item><title>x",
		"deep":      "<rss>" + deep + "</rss>",
	} {
		if _, err := Parse([]byte(doc), nil); err == nil {
			t.Errorf("%s: parsed", name)
		} else if name == "html" && !errors.Is(err, ErrNotFeed) {
			t.Errorf("html: %v, want ErrNotFeed", err)
		}
	}
}
