//go:build !cgo

package utp

import (
	"errors"
	"fmt"
	"net"
)

// NewSocket always fails in this build: uTP is implemented by go-libutp, which needs cgo. The
// error wraps errors.ErrUnsupported.
func NewSocket(network, addr string, opts ...Option) (Socket, error) {
	return nil, fmt.Errorf("listening for uTP on %s %s: %w", network, addr, errNeedsCgo())
}

// NewSocketFromPacketConn always fails in this build: uTP is implemented by go-libutp, which
// needs cgo. The error wraps errors.ErrUnsupported. pc is left open; the caller still owns it.
func NewSocketFromPacketConn(pc net.PacketConn, opts ...Option) (Socket, error) {
	return nil, fmt.Errorf("creating uTP socket on %v: %w", pc.LocalAddr(), errNeedsCgo())
}

func errNeedsCgo() error {
	return fmt.Errorf("uTP needs cgo (this binary was built with CGO_ENABLED=0): %w", errors.ErrUnsupported)
}
