// Package native is Lodestone's own BitTorrent data path: peer
// connections, request pipelining, piece picking, end-game and a
// write-back piece store, designed around batching (issue 13).
//
// It exists because the engine's per-chunk machinery (a write system
// call, a request-strategy pass and a smart-ban hash per 16 KiB received)
// kept Lodestone below libtorrent's rate at more CPU than aria2's, even in
// a minimal configuration. Here a peer's goroutine copies each block
// straight from its read buffer into the piece's buffer and hashes it in
// order as it arrives; a verified piece is written with one write per
// file it spans, by one writer per torrent; requests go out in batches,
// one write per socket read.
//
// Scope so far: v1 torrents and the v1 half of hybrids (pad files
// honoured), from .torrent data or magnets (metadata fetched from peers,
// BEP 9); TCP and uTP (BEP 29) peers, incoming and outgoing, with the
// fast extension (BEP 6), the extension protocol (BEP 10), peer exchange
// (BEP 11) and MSE/PE both ways; HTTP and UDP tracker announces and the
// mainline DHT (BEP 5); downloading and seeding with choking; file
// priorities, rate limits, pause, verification of data on disk and
// resume data. v2-only torrents and streaming are still the engine's
// alone, so this core is not yet selectable in the daemon.
//
// uTP comes from go-libutp (cgo), through our go-utp module, the DHT node
// from anacrolix/dht: both on one UDP socket with the TCP listener's port
// number (the uTP socket hands the DHT every packet that is not uTP). A
// uTP connection must not be used once its socket is closed (libutp frees
// what it points to), so Close waits for every goroutine that may hold
// one before closing the socket.
//
// It uses anacrolix's protocol packages (peer_protocol, metainfo,
// tracker) and none of the engine's client.
package native
