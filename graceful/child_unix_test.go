//go:build unix

package graceful

import (
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
