package enginetest

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (as mount's size=, e.g. "8m") on dir,
// creating dir, and unmounts it when the test ends: a small disk to fill.
// Call it before starting anything that writes there, so that it stops
// first. It needs root (scripts/test runs the suite in a private mount
// namespace); without, the test is skipped, which CI counts as a failure.
func MountTmpfs(t testing.TB, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot mount a tmpfs (euid %d: %v): disk-full tests need root, e.g. `unshare --mount` as root", os.Geteuid(), err)
		}
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}
