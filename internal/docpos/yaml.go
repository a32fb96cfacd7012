package docpos

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

// YAML returns the lines of the keys of the first document in data.
func YAML(data []byte) Lines {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) == 0 {
		return Lines{}
	}
	var l Lines
	walkYAML(&l, doc.Content[0], nil, 0)
	return l
}

// walkYAML records the line of every key under n. depth bounds alias
// chains that refer back to themselves.
func walkYAML(l *Lines, n *yaml.Node, path []string, depth int) {
	if depth > 64 {
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		walkYAML(l, n.Alias, path, depth+1)
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				// "<<: *base" brings the keys of base in at this line.
				walkMerged(l, v, path, n.Content[i].Line, depth+1)
				continue
			}
			p := append(append([]string(nil), path...), k.Value)
			l.set(p, k.Line)
			walkYAML(l, v, p, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := append(append([]string(nil), path...), strconv.Itoa(i))
			l.set(p, c.Line)
			walkYAML(l, c, p, depth+1)
		}
	}
}

// walkMerged records the keys a merge key brings in, at the merge key's
// line: that is where the reader of the file sees them arrive.
func walkMerged(l *Lines, v *yaml.Node, path []string, line, depth int) {
	if depth > 64 {
		return
	}
	switch {
	case v.Kind == yaml.AliasNode && v.Alias != nil:
		walkMerged(l, v.Alias, path, line, depth+1)
	case v.Kind == yaml.SequenceNode:
		for _, c := range v.Content {
			walkMerged(l, c, path, line, depth+1)
		}
	case v.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(v.Content); i += 2 {
			p := append(append([]string(nil), path...), v.Content[i].Value)
			l.set(p, line)
		}
	}
}
