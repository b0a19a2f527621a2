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

func TestCompletionPutMany(t *testing.T) {
	c, err := OpenCompletion(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PutMany(map[string][]byte{"a": {1}, "b": {2, 3}}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"a": "\x01", "b": "\x02\x03", "c": ""} {
		if got, err := c.Get(id); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", id, got, err, want)
		}
	}
}
