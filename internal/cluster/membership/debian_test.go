package membership_test

import (
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode"
	"github.com/lodestone-bt/lodestone/internal/cluster/natsnode/natsnodetest"
)

// On Debian's nats-server 2.9.10, which predates limit markers (2.11), Join
// makes the nodes bucket without them instead of failing, and a node that
// stops beating still leaves the others' live lists within the TTL plus
// slack, by their local clocks; joining again brings it back.
func TestOlderServerWithoutMarkers(t *testing.T) {
	d := natsnodetest.DebianCluster(t, 1, natsnodetest.DebianOptions{User: "lodestone", Password: "members"})
	ctx := ctxT(t)
	connect := func(name string) *natsnode.Node {
		n, err := natsnode.Start(ctx, natsnode.Options{Name: name, URLs: d.URLs, User: "lodestone", Password: "members"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		return n
	}
	na, nb := connect("a"), connect("b")
	t.Logf("%s; the connection reports %s", d.Version(), na.Conn.ConnectedServerVersion())
	a := join(t, ctx, na, "a", 1, nil)
	b := join(t, ctx, nb, "b", 1, nil)
	if a.Markers() || b.Markers() {
		t.Fatal("Markers() is true on a server without limit markers")
	}
	if a.TTL() != ttl {
		t.Fatalf("bucket TTL %v, want %v", a.TTL(), ttl)
	}
	waitLive(t, a, 5*time.Second, "a", "b")
	waitLive(t, b, 5*time.Second, "a", "b")
	b.Close()
	stopped := time.Now()
	waitLive(t, a, ttl+5*time.Second, "a")
	t.Logf("b gone from a's live list %v after it stopped (ttl %v, no marker)", time.Since(stopped).Round(10*time.Millisecond), ttl)
	b = join(t, ctx, nb, "b", 1, nil)
	waitLive(t, a, 5*time.Second, "a", "b")
	waitLive(t, b, 5*time.Second, "a", "b")
}
