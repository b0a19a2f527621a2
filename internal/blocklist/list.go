// Package blocklist owns IP blocklists: parsing the formats users find
// them in (eMule ipfilter.dat, PeerGuardian P2P text, CIDR and single
// addresses, gzip or not, IPv4 and IPv6) into merged sorted ranges with
// O(log n) lookups (List), the live list the engine consults (Filter),
// and loading files and URLs, refreshed on an interval (Loader).
package blocklist

import (
	"cmp"
	"net/netip"
	"slices"
)

// r4 is an IPv4 range, both ends included.
type r4 struct{ lo, hi uint32 }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// next is a+1; ok is false when a is the largest address.
func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

func u128Of(a netip.Addr) u128 {
	b := a.As16()
	var x u128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

// r6 is an IPv6 range, both ends included.
type r6 struct{ lo, hi u128 }

// List is an immutable set of blocked addresses: sorted, merged ranges
// (8 bytes per IPv4 range, 32 per IPv6 one). The zero value and nil
// block nothing. Safe for concurrent use.
type List struct {
	v4 []r4
	v6 []r6
	// rules and skipped count the lines read: accepted as blocking
	// rules, and skipped as malformed.
	rules, skipped int
}

// Contains reports whether a is blocked. An IPv4-mapped IPv6 address is
// looked up as IPv4; the zone is ignored.
func (l *List) Contains(a netip.Addr) bool {
	if l == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		// The first range starting after x; the one before it is the
		// only one that can hold x.
		i, _ := slices.BinarySearchFunc(l.v4, x, func(r r4, x uint32) int {
			if r.lo <= x {
				return -1
			}
			return 1
		})
		return i > 0 && l.v4[i-1].hi >= x
	}
	x := u128Of(a)
	i, _ := slices.BinarySearchFunc(l.v6, x, func(r r6, x u128) int {
		if r.lo.cmp(x) <= 0 {
			return -1
		}
		return 1
	})
	return i > 0 && l.v6[i-1].hi.cmp(x) >= 0
}

// Rules is how many blocking rules were read (before merging).
func (l *List) Rules() int {
	if l == nil {
		return 0
	}
	return l.rules
}

// Skipped is how many lines were skipped as malformed.
func (l *List) Skipped() int {
	if l == nil {
		return 0
	}
	return l.skipped
}

// Ranges is how many merged ranges the list holds.
func (l *List) Ranges() int {
	if l == nil {
		return 0
	}
	return len(l.v4) + len(l.v6)
}

// Merge returns one list blocking everything any of lists blocks, with
// their counts added up. nil lists are ignored.
func Merge(lists ...*List) *List {
	var b builder
	for _, l := range lists {
		if l == nil {
			continue
		}
		b.v4 = append(b.v4, l.v4...)
		b.v6 = append(b.v6, l.v6...)
		b.rules += l.rules
		b.skipped += l.skipped
	}
	return b.build()
}

// builder gathers ranges in any order; build sorts and merges them.
type builder struct {
	v4             []r4
	v6             []r6
	rules, skipped int
}

func (b *builder) build() *List {
	return &List{v4: merge4(b.v4), v6: merge6(b.v6), rules: b.rules, skipped: b.skipped}
}

// merge4 sorts rs and joins overlapping and adjacent ranges, in place;
// the result is clipped to its length so it holds no spare capacity.
func merge4(rs []r4) []r4 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b r4) int { return cmp.Compare(a.lo, b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.hi == ^uint32(0) || r.lo <= last.hi+1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return slices.Clone(out)
}

func merge6(rs []r6) []r6 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b r6) int { return a.lo.cmp(b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		n, ok := last.hi.next()
		if !ok || r.lo.cmp(n) <= 0 {
			if r.hi.cmp(last.hi) > 0 {
				last.hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return slices.Clone(out)
}
