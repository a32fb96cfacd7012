package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// userModule writes a module of a user's own, example.com/shop, that
// requires gracekit through a replace directive to this repository and
// runs gen as a tool (the tool directive of Go 1.24+), as a user's module
// does after "go get -tool github.com/gracekit/gracekit/gen@latest".
//
// It runs "go mod tidy" with the environment the test inherits, so that
// the module cache, even an empty one, gets everything the module needs
// from the inherited GOPROXY; the test is skipped, saying so, only when no
// module proxy can be reached. It then sets GOPROXY=off for the rest of
// the test: whatever gen or go generate does next must work offline.
func userModule(t *testing.T, files map[string]string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH: a user's module cannot be built")
	}
	root := repoRoot(t)
	dir := t.TempDir()
	files["go.mod"] = "module example.com/shop\n\ngo 1.26\n\n" +
		// The pseudo-version the README gives for a replaced module.
		"require github.com/gracekit/gracekit v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/gracekit/gracekit => " + filepath.ToSlash(root) + "\n\n" +
		"tool github.com/gracekit/gracekit/gen\n"
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "-mod=readonly")
	if out, err := goCmd(dir, "mod", "tidy"); err != nil {
		if unreachable.MatchString(out) {
			t.Skipf("no module proxy is reachable to fetch what a user's module needs (GOPROXY=%s): %s", os.Getenv("GOPROXY"), firstLine(out))
		}
		t.Fatalf("go mod tidy in the user's module: %v\n%s", err, out)
	}
	t.Setenv("GOPROXY", "off")
	return dir
}

// unreachable matches what the go command says when it cannot reach a
// module proxy, or may not.
var unreachable = regexp.MustCompile(`GOPROXY=off|dial tcp|no such host|connection refused|i/o timeout|network is unreachable|TLS handshake timeout|server misbehaving`)

// goCmd runs the go command in dir with the test's environment and returns
// its combined output.
func goCmd(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
