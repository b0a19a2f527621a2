// Package utp provides the small uTP (Micro Transport Protocol, BEP 29) socket API that
// github.com/anacrolix/torrent imports as github.com/anacrolix/go-utp.
//
// It exists because the upstream github.com/anacrolix/go-utp module cannot be fetched through the
// Go module proxy available to Lodestone. The main module replaces it with this directory, and
// this package implements exactly the names the engine uses (Socket, FirewallCallback, Option,
// WithLogger, NewSocket, NewSocketFromPacketConn and Default) by wrapping the cgo binding
// github.com/anacrolix/go-libutp, so uTP really works.
//
// go-libutp needs cgo. When built with CGO_ENABLED=0 the constructors return an error wrapping
// [errors.ErrUnsupported] ("uTP needs cgo") instead, so such builds still compile; a client built
// that way must disable uTP (torrent.ClientConfig.DisableUTP), otherwise NewClient fails when it
// tries to listen on uTP.
package utp
