package qbittorrent

// actionRoutes are the torrents/* endpoints that change something:
// adding, removing, starting and stopping, locations, limits,
// categories and tags.
var actionRoutes = map[string]route{}
