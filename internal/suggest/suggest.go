// Package suggest finds the name a misspelt name was meant to be, for the
// "did you mean" of error messages; the loader and gen validate share it.
package suggest

import "strings"

// Closest returns the candidate that name was most likely meant to be: one
// that differs only in case, one that starts with the other (for names of
// 3 bytes or more), or one a few typing mistakes away (an edit distance of
// at most a third of the shorter length, and at least 1). It returns ""
// when nothing is close.
func Closest(name string, candidates []string) string {
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if strings.ToLower(c) == lower {
			return c
		}
	}
	for _, c := range candidates {
		lc := strings.ToLower(c)
		if len(lower) >= 3 && len(lc) >= 3 && (strings.HasPrefix(lower, lc) || strings.HasPrefix(lc, lower)) {
			return c
		}
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		limit := max(1, min(len(name), len(c))/3)
		if d := distance(lower, strings.ToLower(c), limit); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, counted in bytes,
// or a number above limit when it is above limit: names much longer than
// the candidate are not compared byte by byte.
func distance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
