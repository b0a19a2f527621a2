package qbittorrent

// syncRoutes are sync/maindata and sync/torrentPeers.
var syncRoutes = map[string]route{}
