package transmission_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: every
// daemon, seeder, child process and poller started here is stopped by
// its test's cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
