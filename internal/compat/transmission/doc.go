// Package transmission proves Lodestone's Transmission RPC with clients
// and a server no one here wrote: Debian's transmission-remote (3.00), the
// npm client @ctrl/transmission (pinned in compat/transmission), and
// Debian's transmission-daemon 3.00 as the reference server that the same
// client sessions also run against, side by side. It also replays the
// requests Sonarr and Radarr make. Everything runs on loopback; the
// package has tests only (scripts/test installs the programs they need).
package transmission
