package subjectcfg

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		content string
		ok      bool
	}{
		"empty mapping": {"{}\n", true},
		"keys":          {"a: 1\nb: two\n", true},
		"broken":        {"server: [this is not: valid yaml\n", false},
		"a list":        {"- 1\n- 2\n", false},
	} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Check(path); (err == nil) != c.ok {
			t.Errorf("%s: Check = %v, want ok %v", name, err, c.ok)
		}
	}
	if err := Check(""); err != nil {
		t.Errorf("no file: %v", err)
	}
	if err := Check(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
}
