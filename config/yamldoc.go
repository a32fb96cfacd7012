package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML decoder. go.yaml.in/yaml/v3 decodes a mapping by comparing
// every key with every other (to refuse duplicates), which makes a
// mapping of n keys cost n² comparisons and, with duplicates, n² error
// strings: 8,000 duplicate keys ran a 128 KB file out of memory. So the
// loader lets yaml.v3 parse the document into nodes (linear), finds
// duplicates itself with docpos, lets yaml.v3 decode all the scalars in
// one call (so that "yes", "08", dates and tags read exactly as yaml.v3
// reads them), and builds the mappings and lists itself.

// yamlError is a problem with a YAML document found while decoding it.
type yamlError struct {
	line int
	msg  string
}

func (e *yamlError) Error() string { return e.msg }

// yamlDecoder builds Go values from YAML nodes as yaml.v3 decodes them
// into an interface{}: map[string]any when every key is a string,
// map[any]any otherwise, []any, and the scalars yaml.v3 gives.
type yamlDecoder struct {
	scalars map[*yaml.Node]any
	// budget is how many more values may be built: the values written
	// out in the document and MaxAliasValues more.
	budget   int
	maxDepth int
}

// decodeYAML decodes the root node of a document (a DocumentNode, or
// nothing for an empty file).
func decodeYAML(doc *yaml.Node, lim limits) (any, error) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, nil
		}
		root = root.Content[0]
	}
	if root.Kind == 0 {
		return nil, nil // an empty document
	}
	var scalars []*yaml.Node
	written := 0
	var tagged *yaml.Node // the first node with a tag of its own
	var collect func(n *yaml.Node)
	collect = func(n *yaml.Node) {
		written++
		if tagged == nil && !yamlCoreTag(n.Tag) {
			tagged = n
		}
		switch n.Kind {
		case yaml.ScalarNode:
			scalars = append(scalars, n)
		case yaml.MappingNode, yaml.SequenceNode:
			for _, c := range n.Content {
				collect(c)
			}
		}
	}
	collect(root)
	if tagged != nil {
		// yaml.v3 decodes a node with a tag it does not know as if the tag
		// were not there: !include file.txt would be the text "file.txt".
		return nil, &yamlError{tagged.Line, fmt.Sprintf("not valid YAML: the tag %s at column %d is not one of YAML's own (such as !!str): a configuration file holds values, not instructions to fetch them; write the value itself (a _FILE environment variable reads a value from a file)", tagged.Tag, tagged.Column)}
	}
	d := &yamlDecoder{scalars: make(map[*yaml.Node]any, len(scalars)), budget: written + lim.doc.Aliases, maxDepth: lim.doc.Depth}
	if err := d.decodeScalars(scalars); err != nil {
		return nil, err
	}
	return d.value(root, 0)
}

// decodeScalars decodes every scalar of the document with yaml.v3, in one
// sequence so that one decoder does them all.
func (d *yamlDecoder) decodeScalars(scalars []*yaml.Node) error {
	if len(scalars) == 0 {
		return nil
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: scalars}
	var vals []any
	if err := seq.Decode(&vals); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			line, msg := yamlMessage(te.Errors[0])
			return &yamlError{line, "not valid YAML: " + msg}
		}
		return &yamlError{0, "not valid YAML: " + err.Error()}
	}
	for i, n := range scalars {
		d.scalars[n] = vals[i]
		if _, isInt := vals[i].(int); isInt && n.Style&yaml.TaggedStyle == 0 && !plainDecimal(n.Value) {
			// A whole number written with _ (1_000), in hexadecimal
			// (0x10), octal (0o17, or YAML 1.1's 0660) or binary: kept as
			// the text it is, which each setting reads as the same text in
			// an environment variable (a unixSocketMode of 0660 then is
			// "0660", and a size of 1_000 an error that says why).
			d.scalars[n] = n.Value
		}
	}
	return nil
}

// value builds the value of node n, at depth levels of keys below the
// top.
func (d *yamlDecoder) value(n *yaml.Node, depth int) (any, error) {
	d.budget--
	if d.budget < 0 {
		return nil, &yamlError{n.Line, fmt.Sprintf("aliases and merge keys repeat more than %d values (config.MaxAliasValues): write the values out, or refer to smaller anchors", MaxAliasValues)}
	}
	if d.maxDepth > 0 && depth > d.maxDepth {
		return nil, &yamlError{n.Line, fmt.Sprintf("the document nests deeper than %d levels (config.MaxDepth), through aliases: configuration keys are a few levels deep", d.maxDepth)}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return d.scalars[n], nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &yamlError{n.Line, "not valid YAML: an alias without its anchor"}
		}
		return d.value(n.Alias, depth)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			v, err := d.value(c, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		return d.mapping(n, depth)
	}
	return nil, &yamlError{n.Line, "not valid YAML: a node of an unknown kind"}
}

// mapping builds a mapping. Of keys written twice with the same value
// (0 and 00), the last wins; keys written in the mapping win over the keys
// merge keys bring in; among merged mappings, the first to bring a key
// wins, as in yaml.v3.
//
// The top-level mapping becomes a map[string]any, as yaml.v3 decodes into
// the map[string]any of koanf's YAML parser: a key that is not a string
// is written as it is in the file (1 becomes "1"), and null keys are
// dropped.
func (d *yamlDecoder) mapping(n *yaml.Node, depth int) (any, error) {
	top := depth == 0
	keys := map[any]int{} // key -> index in pairs
	type pair struct{ k, v any }
	var pairs []pair
	allStrings := true
	set := func(k, v any, override bool) {
		if top {
			if k == nil {
				return
			}
			if _, ok := k.(string); !ok {
				k = show(k)
			}
		}
		if _, ok := k.(string); !ok {
			if !override && allStrings {
				// yaml.v3 picks the type of a mapping from the keys
				// written in it: a merged key goes into a map of
				// strings as a string.
				k = show(k)
			} else {
				allStrings = false
			}
		}
		if i, ok := keys[k]; ok {
			if override {
				pairs[i].v = v
			}
			return
		}
		keys[k] = len(pairs)
		pairs = append(pairs, pair{k, v})
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.Tag == "!!merge" {
			merges = append(merges, vn)
			continue
		}
		if kn.Kind == yaml.AliasNode && kn.Alias != nil {
			kn = kn.Alias
		}
		if kn.Kind != yaml.ScalarNode {
			return nil, &yamlError{kn.Line, "a key is a mapping or a list: keys are names, such as address"}
		}
		v, err := d.value(vn, depth+1)
		if err != nil {
			return nil, err
		}
		k := d.scalars[kn]
		if _, isString := k.(string); top && !isString && k != nil {
			k = kn.Value
		}
		set(k, v, true)
	}
	for _, m := range merges {
		sources := []*yaml.Node{m}
		if m.Kind == yaml.AliasNode && m.Alias != nil {
			sources[0] = m.Alias
		}
		if sources[0].Kind == yaml.SequenceNode {
			sources = sources[0].Content
		}
		for _, src := range sources {
			v, err := d.value(src, depth)
			if err != nil {
				return nil, err
			}
			switch mv := v.(type) {
			case map[string]any:
				for k, x := range mv {
					set(k, x, false)
				}
			case map[any]any:
				for k, x := range mv {
					set(k, x, false)
				}
			default:
				return nil, &yamlError{m.Line, "not valid YAML: map merge requires map or sequence of maps as the value"}
			}
		}
	}
	if allStrings {
		out := make(map[string]any, len(pairs))
		for _, p := range pairs {
			out[p.k.(string)] = p.v
		}
		return out, nil
	}
	out := make(map[any]any, len(pairs))
	for _, p := range pairs {
		out[p.k] = p.v
	}
	return out, nil
}

// decodeYAMLDocument decodes a YAML configuration document, which holds a
// mapping of keys that are names (or nothing).
func decodeYAMLDocument(doc *yaml.Node, lim limits) (map[string]any, error) {
	v, err := decodeYAML(doc, lim)
	if err != nil {
		return nil, err
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	holds := func(what string) error {
		return &yamlError{root.Line, "the file holds " + what + `: a YAML configuration file holds a mapping of keys, such as "server:"`}
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	case []any:
		return nil, holds("a list")
	case string:
		return nil, holds("a string")
	}
	return nil, holds("a single value")
}

// yamlCoreTag reports whether tag is one of the YAML 1.2 core schema's,
// or a merge key's, as yaml.v3 resolves them (a node without a tag of
// its own gets one of these).
func yamlCoreTag(tag string) bool {
	switch tag {
	case "", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!merge", "!!timestamp", "!!binary":
		return true
	}
	return false
}

// plainDecimal reports whether s is a whole number in decimal digits, with
// an optional sign and no leading zero.
func plainDecimal(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789") == "" && (s == "0" || s[0] != '0')
}
