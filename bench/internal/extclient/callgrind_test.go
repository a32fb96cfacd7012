package extclient

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseSelfCosts(t *testing.T) {
	dump := `# callgrind format
events: Ir
summary: 1000

ob=(1) /bin/x
fl=(1) /src/a.go
fn=(1) main.a
10 300
cfn=(2) main.b
calls=2 20
11 500
+1 100

fn=(2)
20 400
* 200
`
	got, err := parseSelfCosts(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	want := []FuncCost{{"main.b", 600}, {"main.a", 400}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestCallgrindTotal(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "callgrind.out.1")
	if err := os.WriteFile(f, []byte("version: 1\nevents: Ir\nfn=x\n1 2\nsummary: 1234\ntotals: 1234\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := CallgrindTotal(f); err != nil || n != 1234 {
		t.Fatalf("CallgrindTotal = %d, %v", n, err)
	}
	if err := os.WriteFile(f, []byte("events: Ir\nfn=x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := CallgrindTotal(f); err == nil {
		t.Fatal("no error for a dump without totals")
	}
}
