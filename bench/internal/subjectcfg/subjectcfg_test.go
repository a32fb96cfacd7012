package subjectcfg

import (
	"os"
	"path/filepath"
	"slices"
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

func TestAddrs(t *testing.T) {
	got, err := Addrs("127.0.0.1:40000", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:40000", "127.0.0.1:40001", "127.0.0.1:40002"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []struct {
		addr string
		n    int
	}{{"127.0.0.1:65535", 2}, {"127.0.0.1:1", 0}, {"nohost", 1}, {"127.0.0.1:1", MaxServers + 1}} {
		if _, err := Addrs(bad.addr, bad.n); err == nil {
			t.Errorf("Addrs(%q, %d): no error", bad.addr, bad.n)
		}
	}
}
