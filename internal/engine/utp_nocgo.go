//go:build !cgo

package engine

// utpAvailable reports whether this binary can speak uTP: without cgo the
// go-utp module cannot open sockets, and the engine would fail to start
// rather than fall back to TCP.
const utpAvailable = false
