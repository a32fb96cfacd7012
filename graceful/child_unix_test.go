//go:build unix

package graceful

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A restart from a working directory that a deploy has since deleted
// fails saying so, not as if the binary were missing.
func TestStartInAGoneDirectorySaysSo(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "release-41")
	_, err := startChild(osSystem{}, childSpec{
		exe:      "/bin/true",
		dir:      gone,
		handover: handover{Role: roleNameProcess, Generation: 2},
		state:    linkMsg{Type: msgState},
	})
	if err == nil || !strings.Contains(err.Error(), "the working directory "+gone+", in which a new generation starts, no longer exists") {
		t.Fatalf("startChild in a directory that is gone: %v", err)
	}
}

// A restart runs the binary by the path the process was started by, with
// its symlinks kept (a deploy that points a symlink at a new binary), as
// long as that path names the running binary.
func TestResolveExecutableKeepsTheStartingPath(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	link := filepath.Join(dir, "app")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	for _, tc := range []struct {
		name, configured, arg0, want string
	}{
		{"absolute symlink", "", link, link},
		{"found in PATH", "", "app", link},
		{"relative to the working directory", "", "./app", link},
		{"a path that is not the running binary", "", other, self},
		{"a name PATH does not have", "", "nope", self},
		{"no first argument", "", "", self},
		{"configured", "bin/next", link, filepath.Join(dir, "bin/next")},
	} {
		got, err := resolveExecutable(tc.configured, dir, []string{tc.arg0, "-flag"})
		if err != nil || got != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}
