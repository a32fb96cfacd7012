package scenario

import (
	"slices"
	"testing"
)

func TestRoundOrderRotatesAndReverses(t *testing.T) {
	s := []string{"a", "b", "c"}
	want := [][]string{{"a", "b", "c"}, {"a", "c", "b"}, {"c", "a", "b"}, {"c", "b", "a"}}
	for i, w := range want {
		if got := RoundOrder(s, i); !slices.Equal(got, w) {
			t.Errorf("round %d: %v, want %v", i, got, w)
		}
	}
	first := map[string]int{}
	for i := range 6 {
		first[RoundOrder(s, i)[0]]++
	}
	for _, n := range s {
		if first[n] != 2 {
			t.Errorf("%s runs first in %d of 6 rounds, want 2", n, first[n])
		}
	}
}
