package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/bus"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*bus.Config)
		ok     bool
	}{
		{"default", func(*bus.Config) {}, true},
		{"prefix with a dot", func(c *bus.Config) { c.Prefix = "a.b" }, false},
		{"wildcard prefix", func(c *bus.Config) { c.Prefix = "*" }, false},
		{"empty prefix", func(c *bus.Config) { c.Prefix = "" }, false},
		{"no replicas", func(c *bus.Config) { c.Replicas = 0 }, false},
		{"zero ack wait", func(c *bus.Config) { c.AckWait = 0 }, false},
		{"zero max deliver", func(c *bus.Config) { c.MaxDeliver = 0 }, false},
		{"unbounded events", func(c *bus.Config) { c.EventMaxBytes = 0 }, false},
		{"negative window", func(c *bus.Config) { c.DuplicateWindow = -time.Second }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := bus.Default()
			tc.change(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	for servers, want := range map[int]int{0: 1, 1: 1, 2: 2, 3: 3, 5: 3, 100: 3} {
		if got := bus.Replicas(servers); got != want {
			t.Errorf("Replicas(%d) = %d, want %d", servers, got, want)
		}
	}
}

// TestNodeNamesAreSubjectTokens: a node name that would change a subject's
// shape (another token, a wildcard) is refused before anything is sent.
func TestNodeNamesAreSubjectTokens(t *testing.T) {
	c := sharedCluster(t)
	b := newBus(t, c.connect(0), testConfig(uniquePrefix("names")))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, node := range []string{"", "a.b", "*", ">", "a b"} {
		if _, err := b.Send(ctx, node, bus.Command{ID: "x", Method: "m"}); !errors.Is(err, bus.ErrBadName) {
			t.Errorf("Send to %q: %v, want ErrBadName", node, err)
		}
		if _, err := b.Publish(ctx, node, "e", nil); !errors.Is(err, bus.ErrBadName) {
			t.Errorf("Publish from %q: %v, want ErrBadName", node, err)
		}
		if err := b.Receive(ctx, node, nil); !errors.Is(err, bus.ErrBadName) {
			t.Errorf("Receive for %q: %v, want ErrBadName", node, err)
		}
	}
	if _, err := b.Send(ctx, "n", bus.Command{Method: "m"}); !errors.Is(err, bus.ErrNoID) {
		t.Errorf("Send without id: %v, want ErrNoID", err)
	}
}
