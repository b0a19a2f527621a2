package membership

import (
	"errors"
	"hash/fnv"
	"math"
)

// ErrNoNode is returned by Place when no live node may take a task: none is
// live, or every live one is draining, full (max tasks) or has no free disk.
var ErrNoNode = errors.New("membership: no live node can take a task")

// Eligible reports whether placement may choose n: not draining, below its
// max tasks (0 means no limit) and with free disk.
func Eligible(n Node) bool {
	if n.Draining || n.FreeDisk == 0 {
		return false
	}
	return n.MaxTasks <= 0 || n.Tasks < n.MaxTasks
}

// Place chooses the node for key (an info-hash) among nodes by weighted
// rendezvous hashing: every eligible node scores -w/ln(u), where w is its free
// disk and u in (0,1) comes from a hash of (key, node id); the highest score
// wins, ties going to the smaller id. The choice depends only on the key and
// the eligible nodes' ids and weights, so every node computes the same answer
// without talking to the others, and when a node leaves only the keys it had
// move. It returns ErrNoNode when no node is eligible.
func Place(key string, nodes []Node) (string, error) {
	best, bestScore := "", math.Inf(-1)
	for _, n := range nodes {
		if !Eligible(n) {
			continue
		}
		s := Score(key, n.ID, float64(n.FreeDisk))
		if s > bestScore || (s == bestScore && n.ID < best) {
			best, bestScore = n.ID, s
		}
	}
	if best == "" {
		return "", ErrNoNode
	}
	return best, nil
}

// Score is node's rendezvous score for key with weight w > 0. With u uniform
// in (0,1), -1/ln(u) is the reciprocal of an exponential variable, so the
// node with the largest -w/ln(u) is the first to "arrive" among exponential
// clocks of rates w: node i wins with probability w_i / sum(w).
func Score(key, node string, w float64) float64 {
	return -w / math.Log(unit(key, node))
}

// unit hashes (key, node) to a float64 strictly inside (0,1). FNV-1a alone
// mixes its last bytes poorly into the high bits, so a splitmix64 finalizer
// spreads them; the top 53 bits, offset by half a step, avoid 0 and 1.
func unit(key, node string) float64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(node))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return (float64(x>>11) + 0.5) / (1 << 53)
}
