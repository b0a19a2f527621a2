package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodestone-bt/lodestone/internal/mktorrent"
)

const createUsage = `usage: lodestone create [flags] <file-or-dir>

Makes a .torrent of a file or a directory (BitTorrent v1) and prints its
magnet URI. Nothing is sent to a daemon: to share the data, add the
.torrent to a daemon whose download dir holds it (lodestone add); the
daemon checks the data and seeds it.

The same data, name and flags always give the same info-hash: no creation
date is written.
`

func runCreate(_ context.Context, e *env, args []string) error {
	fs := newFlagSet("create")
	out := fs.String("o", "", "write the .torrent to this `file` (default: <name>.torrent in the current dir)")
	var trackers, peers stringList
	fs.Var(&trackers, "tracker", "announce `URL` of a tracker (repeatable, one tier each)")
	fs.Var(&peers, "peer", "a peer `host:port` to name in the magnet (x.pe), where the metadata can be fetched (repeatable)")
	pieceKiB := fs.Int64("piece-kib", 0, "piece length in `KiB`, a power of two of at least 16 (default: from the size)")
	private := fs.Bool("private", false, "mark the torrent private (peers from its trackers only)")
	pos, err := e.parse(fs, args, createUsage)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one file or directory")
	}
	t, err := mktorrent.Build(pos[0], mktorrent.Options{PieceLength: *pieceKiB << 10, Trackers: trackers.values, Private: *private})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	path := *out
	if path == "" {
		path = t.Name + ".torrent"
	}
	if err := writeNew(path, t.MetaInfo); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	fmt.Fprintf(e.stdout, "%s: %s, %s in %d %s of %s\n", path, t.Name, formatBytes(t.Size), t.Pieces, plural(t.Pieces, "piece", "pieces"), formatBytes(t.PieceLength))
	fmt.Fprintln(e.stdout, t.Magnet(trackers.values, peers.values))
	return nil
}

// writeNew writes data to path through a temporary file renamed into
// place, so a reader never sees half a .torrent.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lodestone-create-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := tmp.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}
