// Package qbittorrent holds the compatibility tests of Lodestone's
// qBittorrent WebUI API v2 (issue 16): real clients (npm
// @ctrl/qbittorrent driven by node, the request sequence of Sonarr and
// Radarr) run against Lodestone and, side by side, against Debian's
// qbittorrent-nox 4.5.2 as the reference server, both on loopback and
// fed by the same loopback swarm. What the clients observe is compared,
// and every difference must be on the allow-list that mirrors
// docs/COMPAT.md.
//
// The package has no code outside its tests; its harness (the swarm, the
// reference server, the HTTP session) lives in harness_test.go.
package qbittorrent
