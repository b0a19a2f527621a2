package store

import (
	"bytes"
	"path/filepath"
	"testing"
)

// A bitfield put is read back, after a reopen too; an unknown torrent has
// none; a second Put replaces the first.
func TestCompletion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "completion.db")
	c, err := OpenCompletion(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("aa", []byte{0xff, 0x80}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("aa", []byte{0xf0}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c, err = OpenCompletion(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Get("aa"); err != nil || !bytes.Equal(got, []byte{0xf0}) {
		t.Fatalf("Get(aa) = %x, %v; want f0", got, err)
	}
	if got, err := c.Get("bb"); err != nil || got != nil {
		t.Fatalf("Get(bb) = %x, %v; want nothing", got, err)
	}
}
