package webhook

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine (a worker, the feeder, an
// idle connection of the delivery client) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
