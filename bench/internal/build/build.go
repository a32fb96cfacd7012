// Package build compiles the subjects, the fault stand-ins and the reaper
// into one directory before a run.
package build

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Target is one binary to build.
type Target struct {
	// Name is the output file name in the bin directory.
	Name string
	// Dir is the module directory go build runs in; Pkg the package.
	Dir, Pkg string
	// LDFlags, when set, is passed as -ldflags.
	LDFlags string
}

// All builds targets into binDir and returns the path of each by name.
func All(binDir string, targets []Target) (map[string]string, error) {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	out := map[string]string{}
	for _, t := range targets {
		path := filepath.Join(binDir, t.Name)
		args := []string{"build", "-o", path}
		if t.LDFlags != "" {
			args = append(args, "-ldflags", t.LDFlags)
		}
		args = append(args, t.Pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = t.Dir
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s (go %s in %s): %w: %s", t.Name, strings.Join(args, " "), t.Dir, err, msg)
		}
		out[t.Name] = path
	}
	return out, nil
}

// Exists reports whether pkg (like "./examples/reload") is a directory of
// the module in dir.
func Exists(dir, pkg string) bool {
	st, err := os.Stat(filepath.Join(dir, pkg))
	return err == nil && st.IsDir()
}
