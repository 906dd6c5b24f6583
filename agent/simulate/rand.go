package simulate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// rng is the simulation's only source of randomness: everything a scenario
// contains follows from its seed.
type rng struct{ r *rand.Rand }

func newRNG(seed int64, stream uint64) *rng {
	return &rng{rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15^stream))}
}

func (g *rng) intn(n int) int { return g.r.IntN(n) }

// between returns an int in [lo, hi].
func (g *rng) between(lo, hi int) int { return lo + g.r.IntN(hi-lo+1) }

func (g *rng) chance(p float64) bool { return g.r.Float64() < p }

func (g *rng) float(lo, hi float64) float64 { return lo + g.r.Float64()*(hi-lo) }

// dur returns a duration in [lo, hi].
func (g *rng) dur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.r.Int64N(int64(hi-lo)))
}

func pick[T any](g *rng, xs []T) T { return xs[g.r.IntN(len(xs))] }

// pickN returns n distinct elements of xs (all of them when n >= len(xs)).
func pickN[T any](g *rng, xs []T, n int) []T {
	idx := g.r.Perm(len(xs))
	if n > len(xs) {
		n = len(xs)
	}
	out := make([]T, n)
	for i := range n {
		out[i] = xs[idx[i]]
	}
	return out
}

func shuffle[T any](g *rng, xs []T) {
	g.r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
}

// weighted picks an index with the given weights.
func (g *rng) weighted(ws ...float64) int {
	total := 0.0
	for _, w := range ws {
		total += w
	}
	x := g.r.Float64() * total
	for i, w := range ws {
		if x < w {
			return i
		}
		x -= w
	}
	return len(ws) - 1
}

const hexDigits = "0123456789abcdef"

func (g *rng) hex(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(hexDigits[g.r.IntN(16)])
	}
	return b.String()
}

// uid is a random (version 4 shaped) UUID.
func (g *rng) uid() string {
	h := g.hex(32)
	return fmt.Sprintf("%s-%s-4%s-%c%s-%s", h[0:8], h[8:12], h[13:16], "89ab"[g.r.IntN(4)], h[17:20], h[20:32])
}

// safeChars is the alphabet Kubernetes uses for generated name suffixes and
// pod-template hashes (no vowels, no look-alikes).
const safeChars = "bcdfghjklmnpqrstvwxz2456789"

func (g *rng) suffix(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte(safeChars[g.r.IntN(len(safeChars))])
	}
	return b.String()
}
