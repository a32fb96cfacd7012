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
