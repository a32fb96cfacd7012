package config

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzYAMLDecoder checks the loader's YAML decoder against yaml.v3's own
// decoding into a map: for a document both accept, the values are the
// same; a document yaml.v3 decodes, the loader decodes too.
func FuzzYAMLDecoder(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb: yes\nc: 08\nd: 2024-01-02\ne: ~\nf: .inf\ng: 0x1F\nh: !!str 12\n",
		"base: &b {x: 1, y: [1, 2]}\nm:\n  <<: *b\n  y: 3\nn:\n  <<: [*b, {z: 1, x: 9}]\n",
		"a:\n  1: x\n  true: y\n  null: z\n",
		"list: [a, {b: c}, [d], *x]\n",
		"a: &x [1, *x]\n",
		"? [1, 2]\n: x\n",
		"s: |\n  text\n  more\n",
		"- 1\n- 2\n",
		"just text",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var want map[string]any
		wantErr := yaml.Unmarshal(data, &want)
		var node yaml.Node
		if err := yaml.Unmarshal(data, &node); err != nil {
			return
		}
		got, err := decodeYAMLDocument(&node, defaultLimits())
		if wantErr != nil {
			return // a duplicate key, a list, or a value yaml.v3 cannot decode into a map
		}
		if departs(&node) {
			// The loader departs from yaml.v3 on purpose there:
			// TestYAMLWholeNumbersNotInDecimalStayText and the tag case
			// of TestYAMLSyntaxErrors.
			return
		}
		if otherKeys(&node) {
			// yaml.v3 merges mappings whose keys are not all strings in
			// ways of its own (a merged "0" can override an explicit 0),
			// which no configuration file relies on.
			return
		}
		if err != nil {
			if ye, ok := err.(*yamlError); ok && (strings.Contains(ye.msg, "config.MaxAliasValues") || strings.Contains(ye.msg, "config.MaxDepth")) {
				return
			}
			t.Fatalf("yaml.v3 decodes %q to %v, the loader fails: %v", data, want, err)
		}
		if len(want) == 0 && len(got) == 0 {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nloader  %#v\nyaml.v3 %#v", data, got, want)
		}
	})
}

// departs reports whether a node under n has a tag of its own, or is a
// whole number not written in plain decimal: the loader reads the first
// as an error, the second as its text.
func departs(n *yaml.Node) bool {
	if !yamlCoreTag(n.Tag) || n.ShortTag() == "!!int" && n.Style&yaml.TaggedStyle == 0 && !plainDecimal(n.Value) {
		return true
	}
	for _, c := range n.Content {
		if departs(c) {
			return true
		}
	}
	return false
}

// TestYAMLWholeNumbersNotInDecimalStayText: a whole number written with
// _, in hexadecimal, octal (0o17, or YAML 1.1's 0660) or binary is read
// as the text it is, as the same text in an environment variable is; one
// in plain decimal, or tagged, is a number.
func TestYAMLWholeNumbersNotInDecimalStayText(t *testing.T) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1_000\nb: 0x10\nc: 0o17\nd: 0660\ne: 0b11\nf: 1000\ng: -3\nh: 0\ni: !!int 0x10\n"), &node); err != nil {
		t.Fatal(err)
	}
	got, err := decodeYAMLDocument(&node, defaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "1_000", "b": "0x10", "c": "0o17", "d": "0660", "e": "0b11", "f": 1000, "g": -3, "h": 0, "i": 16}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

// otherKeys reports whether a mapping under n has a key that is not a
// plain string.
func otherKeys(n *yaml.Node) bool {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if otherKeys(c) {
			return true
		}
	}
	return false
}
