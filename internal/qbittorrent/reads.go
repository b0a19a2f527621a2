package qbittorrent

// readRoutes are the torrents/* endpoints that only read.
var readRoutes = map[string]route{}
