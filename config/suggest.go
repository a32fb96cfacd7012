package config

import (
	"strings"
)

// suggest returns the candidate that name was most likely meant to be: one
// that differs only in case, or one a few typing mistakes away. It returns
// "" when nothing is close.
func suggest(name string, candidates []string) string {
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
		d := editDistance(lower, strings.ToLower(c))
		limit := max(1, min(len(name), len(c))/3)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, counted in
// bytes.
func editDistance(a, b string) int {
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

// quoteList writes names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + n + `"`
	}
	return orList(q)
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
