package rss

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"encoding/xml"
)

// Parsed is a feed document: its title and items, in document order.
type Parsed struct {
	Title string
	Items []ParsedItem
}

// ParsedItem is one item (RSS) or entry (Atom).
type ParsedItem struct {
	// GUID is the item's guid or id, else its link, else its title.
	GUID  string
	Title string
	// Link is what to add (see pickLink); "" when nothing fits.
	Link      string
	Published time.Time
}

// ErrNotFeed is returned for a well-formed document that is neither RSS
// nor Atom.
var ErrNotFeed = errors.New("not an RSS or Atom document")

// maxDepth bounds the nesting Parse follows, so a hostile document cannot
// make it build a deep tree.
const maxDepth = 64

// node is an element of the document, as much as Parse needs.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	text  strings.Builder
	kids  []*node
}

func (n *node) attr(local string) string {
	for _, a := range n.attrs {
		if a.Name.Local == local {
			return strings.TrimSpace(a.Value)
		}
	}
	return ""
}

func (n *node) child(local string) *node {
	for _, k := range n.kids {
		if k.name.Local == local {
			return k
		}
	}
	return nil
}

func (n *node) childText(local string) string {
	if k := n.child(local); k != nil {
		return strings.TrimSpace(k.text.String())
	}
	return ""
}

// Parse parses an RSS 2.0 (or 0.9x/1.0) or Atom document. base, the feed's
// URL, resolves relative links.
func Parse(data []byte, base *url.URL) (Parsed, error) {
	root, err := decodeTree(data)
	if err != nil {
		return Parsed{}, err
	}
	var p Parsed
	switch root.name.Local {
	case "rss", "RDF":
		ch := root.child("channel")
		if ch != nil {
			p.Title = ch.childText("title")
		}
		// RSS 1.0 puts its items beside the channel, RSS 2.0 inside.
		for _, parent := range []*node{root, ch} {
			if parent == nil {
				continue
			}
			for _, it := range parent.kids {
				if it.name.Local == "item" {
					p.Items = append(p.Items, rssItem(it, base))
				}
			}
		}
	case "feed":
		p.Title = root.childText("title")
		for _, e := range root.kids {
			if e.name.Local == "entry" {
				p.Items = append(p.Items, atomEntry(e, base))
			}
		}
	default:
		return Parsed{}, fmt.Errorf("%w (its root is <%s>)", ErrNotFeed, root.name.Local)
	}
	return p, nil
}

// decodeTree reads the document's root element into a tree.
func decodeTree(data []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Entity = xml.HTMLEntity // &nbsp; and the like are common in feeds
	d.CharsetReader = charsetReader
	var stack []*node
	var root *node
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse feed: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("parse feed: nested deeper than %d elements", maxDepth)
			}
			n := &node{name: t.Name, attrs: t.Attr}
			if len(stack) > 0 {
				parent := stack[len(stack)-1]
				parent.kids = append(parent.kids, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text.Write(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("parse feed: %w (no element)", ErrNotFeed)
	}
	return root, nil
}

// charsetReader accepts the encodings feeds declare besides UTF-8:
// Latin-1 and Windows-1252 are decoded byte by byte (the C1 range of
// 1252 as Latin-1, which only changes some punctuation).
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "latin-1", "iso8859-1", "windows-1252", "cp1252":
		raw, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(raw)+len(raw)/8)
		for _, b := range raw {
			out = utf8.AppendRune(out, rune(b))
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", label)
}

// candidates gathers an item's possible links, by kind, for pickLink.
type candidates struct {
	magnets    []string // magnet URIs found anywhere
	enclosures []string // enclosures of type application/x-bittorrent
	links      []string // every other URL, in order: .torrent ones win
	infoHash   string   // a bare info-hash (torznab, nyaa)
	page       string   // the item's own link
}

func (c *candidates) add(raw string, base *url.URL) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return
	}
	if hasPrefixFold(raw, "magnet:") {
		c.magnets = append(c.magnets, raw)
		return
	}
	if abs := resolve(raw, base); abs != "" {
		c.links = append(c.links, abs)
	}
}

// scan looks at every descendant of n for magnets and info-hashes: in
// text (<torrent:magnetURI>, <nyaa:infoHash>) and in attributes
// (<torznab:attr name="magneturl" value="…">).
func (c *candidates) scan(n *node) {
	for _, k := range n.kids {
		text := strings.TrimSpace(k.text.String())
		if hasPrefixFold(text, "magnet:") {
			c.magnets = append(c.magnets, text)
		}
		if strings.EqualFold(k.name.Local, "infoHash") && isInfoHash(text) && c.infoHash == "" {
			c.infoHash = text
		}
		if k.name.Local == "attr" {
			name, value := strings.ToLower(k.attr("name")), k.attr("value")
			switch {
			case name == "magneturl" && hasPrefixFold(value, "magnet:"):
				c.magnets = append(c.magnets, value)
			case name == "infohash" && isInfoHash(value) && c.infoHash == "":
				c.infoHash = value
			}
		}
		for _, a := range k.attrs {
			if v := strings.TrimSpace(a.Value); hasPrefixFold(v, "magnet:") && k.name.Local != "attr" {
				c.magnets = append(c.magnets, v)
			}
		}
		c.scan(k)
	}
}

// pick returns the link to add, in order of preference: a magnet link
// anywhere in the item; an enclosure of type application/x-bittorrent; a
// URL whose path ends in .torrent; a magnet built from a bare info-hash;
// the item's own link.
func (c *candidates) pick(title string) string {
	if len(c.magnets) > 0 {
		return c.magnets[0]
	}
	if len(c.enclosures) > 0 {
		return c.enclosures[0]
	}
	for _, l := range c.links {
		if u, err := url.Parse(l); err == nil && strings.HasSuffix(strings.ToLower(u.Path), ".torrent") {
			return l
		}
	}
	if c.infoHash != "" {
		return "magnet:?xt=urn:btih:" + strings.ToLower(c.infoHash) + "&dn=" + url.QueryEscape(title)
	}
	return c.page
}

func rssItem(it *node, base *url.URL) ParsedItem {
	var c candidates
	c.scan(it)
	link := it.childText("link")
	c.add(link, base)
	for _, k := range it.kids {
		if k.name.Local != "enclosure" {
			continue
		}
		u := k.attr("url")
		if strings.EqualFold(k.attr("type"), "application/x-bittorrent") {
			if abs := resolve(u, base); abs != "" {
				c.enclosures = append(c.enclosures, abs)
			}
		}
		c.add(u, base)
	}
	guid := it.childText("guid")
	if g := it.child("guid"); g != nil && !strings.EqualFold(g.attr("isPermaLink"), "false") {
		c.add(guid, base)
	}
	if !hasPrefixFold(link, "magnet:") {
		c.page = resolve(link, base)
	}
	item := ParsedItem{GUID: guid, Title: cleanText(it.childText("title"))}
	item.Link = c.pick(item.Title)
	item.Published = parseDate(it.childText("pubDate"))
	if item.Published.IsZero() {
		item.Published = parseDate(it.childText("date")) // dc:date
	}
	item.GUID = firstNonEmpty(item.GUID, link, item.Link, item.Title)
	return item
}

func atomEntry(e *node, base *url.URL) ParsedItem {
	var c candidates
	c.scan(e)
	for _, k := range e.kids {
		if k.name.Local != "link" {
			continue
		}
		href := k.attr("href")
		rel := k.attr("rel")
		if rel == "enclosure" && strings.EqualFold(k.attr("type"), "application/x-bittorrent") {
			if abs := resolve(href, base); abs != "" {
				c.enclosures = append(c.enclosures, abs)
			}
		}
		if (rel == "" || rel == "alternate") && c.page == "" && !hasPrefixFold(href, "magnet:") {
			c.page = resolve(href, base)
		}
		c.add(href, base)
	}
	item := ParsedItem{GUID: e.childText("id"), Title: cleanText(e.childText("title"))}
	item.Link = c.pick(item.Title)
	item.Published = parseDate(e.childText("published"))
	if item.Published.IsZero() {
		item.Published = parseDate(e.childText("updated"))
	}
	item.GUID = firstNonEmpty(item.GUID, c.page, item.Link, item.Title)
	return item
}

// resolve returns raw as an absolute http(s) URL, resolved against base,
// or "" when it is not one.
func resolve(raw string, base *url.URL) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// dateLayouts are the date forms seen in feeds: RFC 822 in its variants
// (RSS), RFC 3339 (Atom, dc:date).
var dateLayouts = []string{
	time.RFC1123Z, time.RFC1123, time.RFC3339Nano, time.RFC3339,
	"Mon, 2 Jan 2006 15:04:05 -0700", "Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700", "02 Jan 2006 15:04:05 -0700",
	"Mon, 02 Jan 06 15:04:05 -0700", "Mon, 2 Jan 2006 15:04 -0700",
	"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02",
}

func parseDate(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// cleanText collapses the whitespace of a title.
func cleanText(s string) string { return strings.Join(strings.Fields(s), " ") }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isInfoHash accepts a v1 info-hash: 40 hex digits or 32 base32 letters.
func isInfoHash(s string) bool {
	switch len(s) {
	case 40:
		for _, r := range s {
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
		return true
	case 32:
		for _, r := range s {
			if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz", r) {
				return false
			}
		}
		return true
	}
	return false
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
