package events

import (
	"testing"

	"github.com/lodestone-bt/lodestone/internal/store"
)

// BenchmarkPublishFanout publishes one logged event (an fsynced store
// write) to 100 subscribers.
func BenchmarkPublishFanout(b *testing.B) {
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(st, Options{QueueLen: 1 << 20, Ephemeral: []string{"p"}})
	for range 100 {
		h.Subscribe(nil)
	}
	data := map[string]string{"task_id": "0123456789abcdef0123456789abcdef01234567"}
	b.Run("logged", func(b *testing.B) {
		for b.Loop() {
			if _, err := h.Publish("task.state", data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("coalesced", func(b *testing.B) {
		for b.Loop() {
			if err := h.PublishCoalesced("p", "k", data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
