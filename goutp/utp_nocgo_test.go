//go:build !cgo

package utp

import (
	"errors"
	"net"
	"testing"
)

func TestNeedsCgo(t *testing.T) {
	s, err := NewSocket("udp4", "127.0.0.1:0")
	if s != nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("NewSocket = %v, %v; want nil, error wrapping errors.ErrUnsupported", s, err)
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err = NewSocketFromPacketConn(pc)
	if s != nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("NewSocketFromPacketConn = %v, %v; want nil, error wrapping errors.ErrUnsupported", s, err)
	}
}
