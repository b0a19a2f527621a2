package bindif

import "syscall"

const supported = true

// bindToDevice sets SO_BINDTODEVICE: the socket sends and receives only
// through the named interface.
func bindToDevice(fd uintptr, name string) error {
	return syscall.SetsockoptString(int(fd), syscall.SOL_SOCKET, syscall.SO_BINDTODEVICE, name)
}
