package docpos

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestYAML(t *testing.T) {
	doc := "# comment\nserver:\n  address: x\n  list:\n    - a\n    - b\nbase: &b\n  k: 1\nother:\n  <<: *b\n  j: 2\n"
	l := YAML([]byte(doc), Limits{})
	for _, c := range []struct {
		path []string
		pos  Pos
	}{
		{[]string{"server"}, Pos{2, 1}},
		{[]string{"server", "address"}, Pos{3, 3}},
		{[]string{"server", "list", "1"}, Pos{6, 7}},
		{[]string{"other", "k"}, Pos{10, 3}},
		{[]string{"other", "j"}, Pos{11, 3}},
		{[]string{"server", "missing"}, Pos{2, 1}}, // falls back to the parent
		{[]string{"nowhere"}, Pos{}},
	} {
		if got := l.Pos(c.path...); got != c.pos {
			t.Errorf("Pos(%q) = %v, want %v", c.path, got, c.pos)
		}
	}
	if got := YAML([]byte("a: ["), Limits{}).Line("a"); got != 0 {
		t.Errorf("broken YAML gave line %d", got)
	}
	if d := l.Duplicates(); len(d) != 0 {
		t.Errorf("merged keys reported as duplicates: %+v", d)
	}
}

func TestJSON(t *testing.T) {
	doc := "{\n  \"server\": {\n    \"address\": \"x\",\n    \"list\": [1,\n      2]\n  },\n  \"server\": {}\n}\n"
	l := JSON([]byte(doc), Limits{})
	if got := l.Pos("server", "address"); got != (Pos{3, 5}) {
		t.Errorf("server.address at %v, want 3:5", got)
	}
	if got := l.Pos("server", "list", "1"); got != (Pos{5, 7}) {
		t.Errorf("server.list[1] at %v, want 5:7", got)
	}
	d := l.Duplicates()
	if len(d) != 1 || d[0].First != (Pos{2, 3}) || d[0].Again[0] != (Pos{7, 3}) || d[0].Count != 2 || d[0].Path[0] != "server" {
		t.Errorf("duplicates = %+v, want server at 2:3 and 7:3", d)
	}
}

func TestTOML(t *testing.T) {
	doc := "top = 1\n[server]\naddress = \"x\"\ninline = { a = 1, b = [0, {c = 2}] }\n[process.sub]\n\"q\\u0041\" = 1\nz.y = 2\n"
	l := TOML([]byte(doc), Limits{})
	for _, c := range []struct {
		path []string
		pos  Pos
	}{
		{[]string{"top"}, Pos{1, 1}},
		{[]string{"server"}, Pos{2, 2}},
		{[]string{"server", "address"}, Pos{3, 1}},
		{[]string{"server", "inline", "b"}, Pos{4, 19}},
		{[]string{"server", "inline", "b", "0"}, Pos{4, 24}},
		{[]string{"server", "inline", "b", "1", "c"}, Pos{4, 28}},
		{[]string{"process", "sub"}, Pos{5, 10}},
		{[]string{"process", "sub", "qA"}, Pos{5, 10}}, // escaped key: parent's position
		{[]string{"process", "sub", "z", "y"}, Pos{7, 3}},
	} {
		if got := l.Pos(c.path...); got != c.pos {
			t.Errorf("Pos(%q) = %v, want %v", c.path, got, c.pos)
		}
	}
}

func TestDuplicatesOncePerKey(t *testing.T) {
	var b strings.Builder
	b.WriteString("server:\n")
	for range 8000 {
		b.WriteString("  address: x\n")
	}
	b.WriteString("  other: 1\n  other: 2\n")
	d := YAML([]byte(b.String()), Limits{}).Duplicates()
	if len(d) != 2 {
		t.Fatalf("%d duplicates, want 2 (one per key): %+v", len(d), d[:min(len(d), 3)])
	}
	if !slices.Equal(d[0].Path, []string{"server", "address"}) || d[0].Count != 8000 || d[0].First.Line != 2 ||
		len(d[0].Again) != MaxAgain || d[0].Again[0].Line != 3 {
		t.Errorf("first duplicate: %+v", d[0])
	}
	if d[1].Count != 2 || d[1].First.Line != 8002 || d[1].Again[0].Line != 8003 {
		t.Errorf("second duplicate: %+v", d[1])
	}
	j := JSON([]byte(`{"a": 1, "a": 2, "a": 3, "b": {"c": 1, "c": 2}}`), Limits{}).Duplicates()
	if len(j) != 2 || j[0].Count != 3 || !slices.Equal(j[1].Path, []string{"b", "c"}) {
		t.Errorf("JSON duplicates: %+v", j)
	}
}

func TestLimits(t *testing.T) {
	deep := func(format string, n int) string {
		switch format {
		case "yaml":
			return strings.Repeat("{a: ", n) + "1" + strings.Repeat("}", n)
		case "json":
			return strings.Repeat(`{"a": `, n) + "1" + strings.Repeat("}", n)
		}
		return "a = " + strings.Repeat("{a = ", n-1) + "1" + strings.Repeat("}", n-1)
	}
	wide := func(format string, n int) string {
		var b strings.Builder
		for i := range n {
			switch format {
			case "yaml":
				fmt.Fprintf(&b, "k%d: 1\n", i)
			case "json":
				if i == 0 {
					b.WriteString("{")
				} else {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "\n\"k%d\": 1", i)
			default:
				fmt.Fprintf(&b, "k%d = 1\n", i)
			}
		}
		if format == "json" {
			b.WriteString("}")
		}
		return b.String()
	}
	lim := Limits{Depth: 8, Keys: 100}
	for _, format := range []string{"yaml", "json", "toml"} {
		if e := Of(format, []byte(deep(format, 8)), lim).Exceeded(); e != nil {
			t.Errorf("%s: 8 levels exceed %+v", format, e)
		}
		e := Of(format, []byte(deep(format, 9)), lim).Exceeded()
		if e == nil || e.Limit != "depth" || e.Max != 8 || len(e.Path) != 8 {
			t.Errorf("%s: 9 levels: %+v", format, e)
		}
		if e := Of(format, []byte(wide(format, 100)), lim).Exceeded(); e != nil {
			t.Errorf("%s: 100 keys exceed %+v", format, e)
		}
		e = Of(format, []byte(wide(format, 101)), lim).Exceeded()
		line := 101
		if format == "json" {
			line = 102
		}
		if e == nil || e.Limit != "keys" || e.Max != 100 || len(e.Path) != 0 || e.Pos.Line != line {
			t.Errorf("%s: 101 keys: %+v", format, e)
		}
	}
	// List items are no keys.
	if e := Of("yaml", []byte("a: ["+strings.Repeat("1,", 500)+"1]"), lim).Exceeded(); e != nil {
		t.Errorf("a list of 501 items: %+v", e)
	}
}

// allocated returns the bytes fn allocates.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestLinearMemory checks that deep and wide documents cost memory in
// proportion to their size, with no limit set: 20,000 nested TOML inline
// tables once took 3.6 GB because every level copied the path. Twice the
// input must cost less than 2.5 times the memory.
func TestLinearMemory(t *testing.T) {
	for _, c := range []struct {
		format string
		doc    func(n int) string
	}{
		{"toml", func(n int) string { return "a = " + strings.Repeat("{b = ", n) + "1" + strings.Repeat("}", n) }},
		{"json", func(n int) string { return strings.Repeat(`{"b": `, n) + "1" + strings.Repeat("}", n) }},
		{"json", func(n int) string { return `{"a": [` + strings.Repeat("[1],", n) + "1]}" }},
		{"yaml", func(n int) string { return strings.Repeat("- ", n) + "1\n" }},
		{"yaml", func(n int) string { return "s:\n" + strings.Repeat("  k: 1\n", n) }},
		{"toml", func(n int) string { return "[s]\n" + strings.Repeat("k = [1]\n", n) }},
	} {
		const n = 5000
		one := allocated(func() { Of(c.format, []byte(c.doc(n)), Limits{}) })
		two := allocated(func() { Of(c.format, []byte(c.doc(2*n)), Limits{}) })
		if float64(two) > 2.5*float64(one) {
			t.Errorf("%s %.30q...: %d bytes allocated for %d, %d for %d: not linear", c.format, c.doc(1), one, n, two, 2*n)
		}
	}
}
