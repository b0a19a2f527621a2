//go:build !linux

package bindif

const supported = false

func bindToDevice(fd uintptr, name string) error { return ErrUnsupported }
