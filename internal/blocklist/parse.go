package blocklist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"
)

// MaxBytes bounds the text Parse reads, after decompression: a gzip bomb
// stops here instead of filling memory.
const MaxBytes = 512 << 20

// maxLine bounds one line; a longer one is skipped as malformed.
const maxLine = 4 << 10

// ErrTooLarge is returned for a list longer than MaxBytes.
var ErrTooLarge = errors.New("blocklist: larger than the limit")

// eMule's access levels: an entry at or above this level allows the
// range instead of blocking it (eMule's ipfilter.dat convention).
const emuleAllowLevel = 128

// Parse reads one list in any of the formats below, gzip-compressed or
// not (told by its magic bytes), one rule a line:
//
//	# a comment (also "//"), blank lines
//	1.2.3.4                                   one address (IPv4 or IPv6)
//	1.2.3.0/24, 2001:db8::/32                 CIDR
//	1.2.3.0-1.2.3.255, 2001:db8::1 - 2001:db8::9   a range
//	001.002.003.000 - 001.002.003.255 , 000 , desc   eMule ipfilter.dat
//	Some description:1.2.3.0-1.2.3.255       PeerGuardian P2P text
//
// eMule entries with an access level of 128 or more allow their range
// in eMule and are left out here. A malformed line is skipped and
// counted (List.Skipped), never an error: errors are only for reading
// (a broken gzip stream, a list over MaxBytes).
func Parse(r io.Reader) (*List, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("blocklist: gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	var b builder
	var read int64
	for {
		line, err := br.ReadSlice('\n')
		read += int64(len(line))
		if read > MaxBytes {
			return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, MaxBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) || (len(line) > maxLine) {
			// Too long to be a rule: skip the rest of the line.
			b.skipped++
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				read += int64(len(line))
				if read > MaxBytes {
					return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, MaxBytes)
				}
			}
		} else if len(line) > 0 {
			b.addLine(line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("blocklist: read: %w", err)
		}
	}
	return b.build(), nil
}

// addLine parses one line and adds its range, or counts it as skipped.
func (b *builder) addLine(line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
		return
	}
	// A trailing comment after a rule.
	if i := bytes.Index(line, []byte(" #")); i >= 0 {
		line = bytes.TrimSpace(line[:i])
	}
	// A view of the line, not a copy: one allocation a line was most of
	// a big list's load cost. Nothing parsed keeps it (zones, the one
	// part netip would keep, are refused), and the reader's buffer it
	// points into is not reused before the line is done.
	s := unsafe.String(&line[0], len(line))
	var lo, hi netip.Addr
	var ok bool
	i := strings.IndexByte(s, ',')
	if i >= 0 {
		lo, hi, ok = parseRange(strings.TrimSpace(s[:i]))
	}
	switch {
	case ok:
		// eMule: "range , level , description".
		rest := s[i+1:]
		if j := strings.IndexByte(rest, ','); j >= 0 {
			rest = rest[:j]
		}
		level, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil {
			b.skipped++
			return
		}
		if level >= emuleAllowLevel {
			return // allowed, not blocked
		}
	default:
		if lo, hi, ok = parseRange(s); ok {
			break
		}
		// PeerGuardian: "description:first-last"; the description may
		// hold colons and commas, the range (IPv4 in this format) none.
		i := strings.LastIndexByte(s, ':')
		if i < 0 {
			b.skipped++
			return
		}
		if lo, hi, ok = parseRange(s[i+1:]); !ok || !strings.Contains(s[i+1:], "-") {
			b.skipped++
			return
		}
	}
	b.rules++
	if lo.Is4() {
		b.v4 = append(b.v4, r4{v4num(lo), v4num(hi)})
	} else {
		b.v6 = append(b.v6, r6{u128Of(lo), u128Of(hi)})
	}
}

// parseRange parses "a", "a/bits" or "a-b" (spaces around the dash
// allowed) into the first and last address, both of one family (IPv4-
// mapped IPv6 counts as IPv4), first <= last.
func parseRange(s string) (lo, hi netip.Addr, ok bool) {
	if i := strings.IndexByte(s, '-'); i >= 0 {
		lo, ok1 := parseAddr(strings.TrimSpace(s[:i]))
		hi, ok2 := parseAddr(strings.TrimSpace(s[i+1:]))
		if !ok1 || !ok2 || lo.Is4() != hi.Is4() || hi.Less(lo) {
			return netip.Addr{}, netip.Addr{}, false
		}
		return lo, hi, true
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		a, ok := parseAddr(s[:i])
		bits, err := strconv.Atoi(s[i+1:])
		if !ok || err != nil || bits < 0 || bits > a.BitLen() {
			return netip.Addr{}, netip.Addr{}, false
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return netip.Addr{}, netip.Addr{}, false
		}
		return p.Addr(), lastOf(p), true
	}
	a, ok := parseAddr(s)
	return a, a, ok
}

// lastOf is the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// parseAddr parses an IPv4 address, leading zeros allowed and read as
// decimal (eMule writes "001.002.003.004"), or an IPv6 one (no zone).
// IPv4-mapped IPv6 comes back as IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	if a, ok := parseV4(s); ok {
		return a, true
	}
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parseV4 parses dotted decimal with up to three digits an octet.
func parseV4(s string) (netip.Addr, bool) {
	var b [4]byte
	octet, digits, n := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n == 4 {
				return netip.Addr{}, false
			}
			b[n] = byte(octet)
			n++
			octet, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits == 3 {
			return netip.Addr{}, false
		}
		octet = octet*10 + int(c-'0')
		digits++
		if octet > 255 {
			return netip.Addr{}, false
		}
	}
	if n != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(b), true
}

func v4num(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
