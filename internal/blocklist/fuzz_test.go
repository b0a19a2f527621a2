package blocklist

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must not panic, and every
// list it returns must be sorted and merged, and hold the addresses its
// single-address lines name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"000.000.000.000 - 000.255.255.255 , 000 , desc\n",
		"desc:1.2.3.4-1.2.3.255\n",
		"1.2.3.0/24\n2001:db8::/32\n# c\n",
		"2001:db8::1-2001:db8::5\n::ffff:1.2.3.4\n",
		"\x1f\x8b\x08\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i := 1; i < len(l.v4); i++ {
			if l.v4[i].lo <= l.v4[i-1].hi || l.v4[i].lo > l.v4[i].hi {
				t.Fatalf("v4 ranges not sorted and merged: %v", l.v4)
			}
		}
		for i := 1; i < len(l.v6); i++ {
			if l.v6[i].lo.cmp(l.v6[i-1].hi) <= 0 {
				t.Fatalf("v6 ranges not sorted and merged")
			}
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			if a, err := netip.ParseAddr(string(bytes.TrimSpace(line))); err == nil && a.Zone() == "" && len(data) > 0 && data[0] != 0x1f {
				if !l.Contains(a) {
					t.Fatalf("%s listed but not blocked", a)
				}
			}
		}
	})
}
