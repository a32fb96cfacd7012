package config

import (
	"strings"
	"testing"
)

// TestProblemsCannotForgeOrFloodALogLine: a key that holds a newline or
// an escape sequence, and a value of 100 kB, are written on one line of
// bounded length, with the control characters escaped.
func TestProblemsCannotForgeOrFloodALogLine(t *testing.T) {
	path := writeFile(t, "hostile.json", `{"server": {"x\nFAKE invalid configuration\u001b[31m": 1}, "log": {"level": "`+strings.Repeat("v", 100_000)+`"}}`)
	cfg := Default()
	err := Load(&cfg, WithFiles(path), WithoutEnv())
	if err == nil {
		t.Fatal("the hostile file was accepted")
	}
	lines := strings.Split(err.Error(), "\n\t")
	if len(lines) != 3 { // the header, then one line per problem
		t.Fatalf("%d lines, want 3:\n%q", len(lines), err.Error())
	}
	for _, l := range lines {
		if strings.ContainsAny(l, "\n\x1b") {
			t.Errorf("a line holds a raw control character: %q", l)
		}
		if len(l) > 2300 {
			t.Errorf("a line of %d bytes: %.200q", len(l), l)
		}
	}
	if !strings.Contains(err.Error(), `x\nFAKE invalid configuration\x1b[31m`) || !strings.Contains(err.Error(), "bytes left out") {
		t.Errorf("the key is not escaped, or the long value not shortened:\n%.600q", err.Error())
	}
}
