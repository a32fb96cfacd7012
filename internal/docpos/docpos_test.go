package docpos

import "testing"

func TestYAML(t *testing.T) {
	doc := "# comment\nserver:\n  address: x\n  list:\n    - a\n    - b\nbase: &b\n  k: 1\nother:\n  <<: *b\n  j: 2\n"
	l := YAML([]byte(doc))
	for _, c := range []struct {
		path []string
		line int
	}{
		{[]string{"server"}, 2},
		{[]string{"server", "address"}, 3},
		{[]string{"server", "list", "1"}, 6},
		{[]string{"other", "k"}, 10},
		{[]string{"other", "j"}, 11},
		{[]string{"server", "missing"}, 2}, // falls back to the parent
		{[]string{"nowhere"}, 0},
	} {
		if got := l.Line(c.path...); got != c.line {
			t.Errorf("Line(%q) = %d, want %d", c.path, got, c.line)
		}
	}
	if got := YAML([]byte("a: [")).Line("a"); got != 0 {
		t.Errorf("broken YAML gave line %d", got)
	}
}

func TestJSON(t *testing.T) {
	doc := "{\n  \"server\": {\n    \"address\": \"x\",\n    \"list\": [1,\n      2]\n  },\n  \"server\": {}\n}\n"
	l := JSON([]byte(doc))
	if got := l.Line("server", "address"); got != 3 {
		t.Errorf("server.address line %d, want 3", got)
	}
	if got := l.Line("server", "list", "1"); got != 5 {
		t.Errorf("server.list[1] line %d, want 5", got)
	}
	d := l.Duplicates()
	if len(d) != 1 || d[0].Line != 7 || d[0].Path[0] != "server" {
		t.Errorf("duplicates = %+v, want server at line 7", d)
	}
}

func TestTOML(t *testing.T) {
	doc := "top = 1\n[server]\naddress = \"x\"\ninline = { a = 1, b = 2 }\n[process.sub]\n\"q\\u0041\" = 1\nz.y = 2\n"
	l := TOML([]byte(doc))
	for _, c := range []struct {
		path []string
		line int
	}{
		{[]string{"top"}, 1},
		{[]string{"server"}, 2},
		{[]string{"server", "address"}, 3},
		{[]string{"server", "inline", "b"}, 4},
		{[]string{"process", "sub"}, 5},
		{[]string{"process", "sub", "qA"}, 5}, // escaped key: parent's line
		{[]string{"process", "sub", "z", "y"}, 7},
	} {
		if got := l.Line(c.path...); got != c.line {
			t.Errorf("Line(%q) = %d, want %d", c.path, got, c.line)
		}
	}
}
