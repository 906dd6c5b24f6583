package strays

import (
	"fmt"
	"testing"
)

func TestChunks(t *testing.T) {
	for _, tt := range []struct{ n, size, want int }{{0, 500, 0}, {1, 500, 1}, {500, 500, 1}, {501, 500, 2}, {1250, 500, 3}} {
		m := make(map[string]int, tt.n)
		for i := range tt.n {
			m[fmt.Sprint(i)] = i
		}
		seen, got := map[string]bool{}, 0
		for c := range chunks(m, tt.size) {
			got++
			if len(c) == 0 || len(c) > tt.size {
				t.Fatalf("%d entries by %d: a chunk of %d", tt.n, tt.size, len(c))
			}
			for k, v := range c {
				if seen[k] || m[k] != v {
					t.Fatalf("%d entries by %d: %q twice or with the wrong value", tt.n, tt.size, k)
				}
				seen[k] = true
			}
		}
		if got != tt.want || len(seen) != tt.n {
			t.Errorf("%d entries by %d: %d chunks holding %d entries, want %d chunks holding all", tt.n, tt.size, got, len(seen), tt.want)
		}
	}
}
