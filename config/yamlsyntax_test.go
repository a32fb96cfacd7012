package config

import (
	"strings"
	"testing"
)

// TestYAMLSyntaxErrors checks that a YAML syntax error names the line and
// column to fix and says what is wrong there in words. yaml.v3 alone
// names line 1 for the bracket on line 2, line 3 for the colon missing on
// line 2, and "found character that cannot start any token" for a tab.
func TestYAMLSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		name, content string
		line, column  int
		want          string
	}{
		{"unclosed bracket", "app:\n  greeting: [oops\n", 2, 13,
			`the "[" at column 13 starts a list that is never closed: end it with "]", or put the value in quotes if the "[" is part of the text`},
		{"unclosed bracket, more keys after it", "app:\n  greeting: [oops\n  other: 1\n", 2, 13,
			`the "[" at column 13 starts a list that is never closed`},
		{"unclosed brace", "log: {level: info\n", 1, 6,
			`the "{" at column 6 starts a mapping that is never closed: end it with "}"`},
		{"wrong closing bracket", "a: [1, 2}\n", 1, 9,
			`the "}" at column 9 does not close the "[" at line 1, column 4: close a list with "]"`},
		{"closing bracket alone", "a: ]\n", 1, 4,
			`the "]" at column 4 closes no list: remove it, or put the value in quotes`},
		{"missing colon", "app:\n  apiToken x\n  upstream:\n    url: http://u\n", 2, 3,
			`"apiToken x" has no colon: write the key, a colon and a space, then the value, as in "apiToken: x"`},
		{"missing colon on the last line", "a: 1\nb\n", 2, 1,
			`"b" has no colon: write the key, a colon and a space, then the value, as in "b: value"`},
		{"missing colon at the top", "key with space 1\nb: 2\n", 1, 1,
			`"key with space 1" has no colon`},
		{"tab", "app:\n\tapiToken: x\n", 2, 1,
			`a tab at column 1 indents this line: YAML indents with spaces only; replace the tab with spaces`},
		{"tab after spaces", "app:\n  a: 1\n  \tb: 2\n", 3, 3,
			`a tab at column 3 indents this line: YAML indents with spaces only`},
		{"unclosed double quote", "app:\n  apiToken: \"abc\n  upstream:\n    url: http://u\n", 2, 13,
			`the double quote (") at column 13 starts a string that is never closed: end the string with "`},
		{"unclosed single quote", "app:\n  apiToken: 'abc\n", 2, 13,
			`the single quote (') at column 13 starts a string that is never closed: end the string with '`},
		{"colon and space in a value", "app:\n  greeting: hello: world\n", 2, 13,
			`the value at column 13 holds ": ", which YAML reads as the start of another key: put the value in quotes, as in greeting: "hello: world"`},
		{"indented under a value", "app:\n  a: 1\n   b: 2\n", 3, 4,
			`this line is indented more than the key "a" on line 2, which already has a value: indent it by 2 spaces, as "a" is`},
		{"indented between two levels", "app:\n  a: 1\n b: 2\n", 3, 2,
			`this line is indented by 1 spaces, which lines up with no key above it`},
		{"key among list items", "app:\n  - a\n  b: 1\n", 3, 3,
			`this line is a key among the items of a list (the lines that start with "- ", such as line 2): start it with "- " too, or move it out of the list`},
		{"value starting with @", "a: @x\n", 1, 4,
			`a value cannot start with "@" (column 4): put the value in quotes`},
		{"alias without anchor", "log:\n  level: *lvl\n", 2, 10,
			`the alias *lvl at column 10 names no anchor: write &lvl before the value it stands for, earlier in the file`},
		{"second document", "log:\n  level: info\n---\nlog:\n  level: debug\n", 3, 1,
			`a second document starts here with "---": a configuration file holds one document`},
		{"a tag of its own", "server:\n  address: !env X\n", 2, 0,
			`the tag !env at column 12 is not one of YAML's own (such as !!str)`},
		{"text after a flow mapping", "{server: {}}\nlog: x\n", 1, 0,
			`text follows the end of the document's value`},
		{"block scalar is text", "app:\n  greeting: |\n    [not a list\n    \tnor a tab\n  x: [\n", 5, 6,
			`the "[" at column 6 starts a list that is never closed`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			ps := problemsOf(t, Load(&cfg, withDocument("a.yaml", "yaml", []byte(c.content)), WithoutEnv()))
			if len(ps) != 1 {
				t.Fatalf("%d problems, want 1: %v", len(ps), ps)
			}
			p := ps[0]
			if p.Line != c.line || p.Column != c.column || !strings.HasPrefix(p.Message, "not valid YAML: "+c.want) {
				t.Errorf("got line %d column %d: %s\nwant line %d column %d: not valid YAML: %s", p.Line, p.Column, p.Message, c.line, c.column, c.want)
			}
		})
	}
}

// TestKeyWithoutColonInASection checks the document that yaml.v3 reads
// without an error: "app:\n  apiToken x" makes app the text "apiToken x".
func TestKeyWithoutColonInASection(t *testing.T) {
	type app struct {
		APIToken string `koanf:"apiToken"`
	}
	var cfg struct {
		App app `koanf:"app"`
	}
	err := Load(&cfg, withDocument("a.yaml", "yaml", []byte("app:\n  apiToken x\n")), WithoutEnv())
	sameLines(t, "problems", errorLines(t, err), []string{
		`a.yaml:1: app: "apiToken x" is text, not a section: the key apiToken has no colon after it; write "apiToken: x"`,
	})
}

// requiresUpstream is a section whose rule needs a value that only the
// file gives.
type requiresUpstream struct {
	URL string `koanf:"url"`
}

func (r requiresUpstream) Validate() []Problem {
	if r.URL == "" {
		return []Problem{{Key: "url", Message: "is required"}}
	}
	return nil
}

// TestParseErrorReportsItselfOnly checks that a file that fails to parse
// is reported alone: the rules would otherwise judge the defaults in its
// place ("default: upstream.url: is required" although the file sets it).
func TestParseErrorReportsItselfOnly(t *testing.T) {
	var cfg struct {
		Upstream requiresUpstream `koanf:"upstream"`
	}
	for name, content := range map[string]string{
		"duplicate key": "upstream:\n  url: http://a\n  url: http://b\n",
		"tab":           "upstream:\n\turl: http://a\n",
		"bracket":       "upstream:\n  url: [http://a\n",
	} {
		t.Run(name, func(t *testing.T) {
			ps := problemsOf(t, Load(&cfg, withDocument("a.yaml", "yaml", []byte(content)), WithoutEnv()))
			if len(ps) != 1 || ps[0].Source != "a.yaml" || ps[0].Line < 2 {
				t.Errorf("problems %v, want the file's own only", ps)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		err := Load(&cfg, WithFiles(t.TempDir()+"/missing.yaml"), WithoutEnv())
		if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Message, "cannot read the file") {
			t.Errorf("problems %v, want the file's own only", ps)
		}
	})
	// A file that parses still gets the rules.
	ps := problemsOf(t, Load(&cfg, withDocument("a.yaml", "yaml", []byte("upstream: {}\n")), WithoutEnv()))
	sameLines(t, "problems", keyMessages(ps), []string{"upstream.url: is required"})
}
