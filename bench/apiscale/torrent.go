package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// pieceLen is the piece size of the generated torrents.
const pieceLen = 16 << 10

// genTorrent makes a single-file torrent named name of size bytes of
// pseudo-random content (seeded by i), writes the content into dir when
// dir is not "", and returns the .torrent in base64.
func genTorrent(i int, name string, size int, dir string) (string, error) {
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(uint64(i), 0x10de))
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	var pieces []byte
	for off := 0; off < size; off += pieceLen {
		h := sha1.Sum(data[off:min(off+pieceLen, size)])
		pieces = append(pieces, h[:]...)
	}
	if dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", fmt.Errorf("write content: %w", err)
		}
	}
	// Bencoded, keys in sorted order.
	var b bytes.Buffer
	b.WriteString("d4:infod")
	b.WriteString("6:lengthi" + strconv.Itoa(size) + "e")
	b.WriteString("4:name" + bstr(name))
	b.WriteString("12:piece lengthi" + strconv.Itoa(pieceLen) + "e")
	b.WriteString("6:pieces" + strconv.Itoa(len(pieces)) + ":")
	b.Write(pieces)
	b.WriteString("ee")
	return base64.StdEncoding.EncodeToString(b.Bytes()), nil
}

func bstr(s string) string { return strconv.Itoa(len(s)) + ":" + s }
