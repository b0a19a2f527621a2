package membership_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cluster/membership"
)

// keys returns n random 40-hex-digit info-hashes from a fixed seed.
func keys(n int) []string {
	r := rand.New(rand.NewPCG(20, 26))
	out := make([]string, n)
	b := make([]byte, 20)
	for i := range out {
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[i] = hex.EncodeToString(b)
	}
	return out
}

func nodes(weights ...uint64) []membership.Node {
	out := make([]membership.Node, len(weights))
	for i, w := range weights {
		out[i] = membership.Node{ID: fmt.Sprintf("node-%c", 'a'+i), FreeDisk: w << 30}
	}
	return out
}

func count(t *testing.T, ks []string, ns []membership.Node) (map[string]string, map[string]int) {
	t.Helper()
	where := map[string]string{}
	per := map[string]int{}
	for _, k := range ks {
		id, err := membership.Place(k, ns)
		if err != nil {
			t.Fatal(err)
		}
		where[k] = id
		per[id]++
	}
	return where, per
}

// 9,000 info-hashes over three nodes with 100, 200 and 300 GiB free land in
// proportion 1:2:3. Pearson's chi-square with 2 degrees of freedom must stay
// under 13.82 (p = 0.001); a placement that ignored the weights would give
// a chi-square in the thousands.
func TestPlaceSpreadsByFreeDisk(t *testing.T) {
	ks := keys(9000)
	ns := nodes(100, 200, 300)
	_, per := count(t, ks, ns)
	chi := 0.0
	for i, n := range ns {
		want := 9000 * float64(i+1) / 6
		d := float64(per[n.ID]) - want
		chi += d * d / want
	}
	t.Logf("per node %v, chi-square %.2f", per, chi)
	if chi > 13.82 {
		t.Fatalf("spread %v does not follow the weights 1:2:3 (chi-square %.2f)", per, chi)
	}
}

// When one of four equal nodes leaves, exactly the keys it held move, and
// they spread over the other three; when it comes back, exactly those keys
// return to it. That is the rendezvous property: no other key moves.
func TestPlaceMovesOnlyTheLeaversKeys(t *testing.T) {
	ks := keys(9000)
	all := nodes(50, 50, 50, 50)
	before, per := count(t, ks, all)
	gone := all[2].ID
	after, perAfter := count(t, ks, append(all[:2:2], all[3]))
	moved := 0
	for _, k := range ks {
		if before[k] == after[k] {
			continue
		}
		moved++
		if before[k] != gone {
			t.Fatalf("key %s moved from %s, which stayed", k, before[k])
		}
	}
	if moved != per[gone] {
		t.Fatalf("%d keys moved, the leaver held %d", moved, per[gone])
	}
	// ~1/N of the keys: 2,250 expected, binomial sd ~41; 6 sd either way.
	if moved < 2000 || moved > 2500 {
		t.Fatalf("%d of 9000 keys moved; about 2250 expected", moved)
	}
	for id, c := range perAfter {
		if c < per[id] {
			t.Fatalf("%s lost keys when another node left", id)
		}
	}
	back, _ := count(t, ks, all)
	for _, k := range ks {
		if back[k] != before[k] {
			t.Fatalf("key %s is on %s after the node returned, was on %s", k, back[k], before[k])
		}
	}
	t.Logf("moved %d of 9000 (leaver held %d)", moved, per[gone])
}

// Draining nodes, nodes at their max tasks and nodes without free disk are
// never chosen; with none eligible Place says ErrNoNode.
func TestPlaceSkipsIneligible(t *testing.T) {
	ks := keys(500)
	ns := nodes(10, 10, 10, 10)
	ns[0].Draining = true
	ns[1].MaxTasks, ns[1].Tasks = 5, 5
	ns[2].MaxTasks, ns[2].Tasks = 5, 4 // one slot left: still eligible
	_, per := count(t, ks, ns)
	if per[ns[0].ID] != 0 || per[ns[1].ID] != 0 {
		t.Fatalf("placed on a draining or full node: %v", per)
	}
	if per[ns[2].ID] == 0 || per[ns[3].ID] == 0 {
		t.Fatalf("an eligible node got nothing: %v", per)
	}
	ns[2].Tasks, ns[3].FreeDisk = 5, 0
	if _, err := membership.Place(ks[0], ns); !errors.Is(err, membership.ErrNoNode) {
		t.Fatalf("no eligible node: err %v", err)
	}
	if _, err := membership.Place(ks[0], nil); !errors.Is(err, membership.ErrNoNode) {
		t.Fatalf("no node: err %v", err)
	}
}

// BenchmarkPlace9000Over3 places 9,000 info-hashes over three nodes: the
// cost of placing a whole 9,000-task cluster from scratch.
func BenchmarkPlace9000Over3(b *testing.B) {
	ks := keys(9000)
	ns := nodes(100, 200, 300)
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range ks {
			if _, err := membership.Place(k, ns); err != nil {
				b.Fatal(err)
			}
		}
	}
}
