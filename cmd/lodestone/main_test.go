package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary run main() instead of the tests: the
// tests start it as a child process to test the real command, signals
// and environment included, without a separate build.
const runMainEnv = "LODESTONE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append([]string{"lodestone"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}
