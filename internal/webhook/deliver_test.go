package webhook

import (
	"testing"
	"time"
)

// The signature matches one computed elsewhere (Python's hmac module), so
// the documented recipe and the code agree.
func TestSignKnownVector(t *testing.T) {
	body := []byte(`{"id":"7","name":"task.added","data":{}}`)
	const want = "sha256=e15199c925030a79a2e3908f738f5c156bc01ac0dd3acc6add1ffafd7218b554"
	if got := Sign("It's a Secret to Everybody", 1796620902, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

// Each wait is between half and all of the base doubled per attempt,
// capped, and never overflows however many attempts were made.
func TestBackoffBounds(t *testing.T) {
	m := &Manager{cfg: Config{Backoff: time.Second, MaxBackoff: time.Hour}}
	for _, tc := range []struct {
		attempts int
		full     time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second},
		{12, 2048 * time.Second}, {13, time.Hour}, {63, time.Hour}, {1000, time.Hour},
	} {
		for range 50 {
			if d := m.backoff(tc.attempts); d < tc.full/2 || d > tc.full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.attempts, d, tc.full/2, tc.full)
			}
		}
	}
}
