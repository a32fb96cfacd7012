package schema_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestAjv runs the independent check of schema/ajv (ajv, draft 2020-12,
// strict mode) on the committed schemas and the corpus. It needs Node.js
// and the packages of schema/ajv/package-lock.json; .ci/run installs them.
func TestAjv(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the independent ajv check of the schema is skipped (.ci/run installs Node.js and runs it)")
	}
	if _, err := os.Stat(filepath.Join("ajv", "node_modules", "ajv")); err != nil {
		t.Skip("schema/ajv/node_modules is missing: run npm ci in schema/ajv to run the ajv check (.ci/run does)")
	}
	cmd := exec.Command(node, "check.mjs")
	cmd.Dir = "ajv"
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("ajv check failed: %v", err)
	}
}
