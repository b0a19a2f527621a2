//go:build cgo

package engine

// utpAvailable reports whether this binary can speak uTP: our go-utp module
// wraps libutp through cgo.
const utpAvailable = true
