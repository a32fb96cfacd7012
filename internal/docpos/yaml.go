package docpos

import (
	"go.yaml.in/yaml/v3"
)

// YAML returns the positions of the keys of the first document in data.
func YAML(data []byte, lim Limits) Lines {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Lines{}
	}
	return YAMLNode(&doc, lim)
}

// YAMLNode returns the positions of the keys under a parsed YAML document
// or node. It does not follow aliases: a key inside an alias has the
// position of the key where the alias is used. Merge keys ("<<: *base")
// bring the keys of base in at the merge key's position, up to
// lim.Aliases keys in all.
func YAMLNode(doc *yaml.Node, lim Limits) Lines {
	l := newLines(lim, countNodes(doc))
	n := doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return *l
		}
		n = n.Content[0]
	}
	l.walkYAML(n, 0)
	return *l
}

func yamlPos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

// walkYAML records the keys under n, the value of node id.
func (l *Lines) walkYAML(n *yaml.Node, id int32) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content) && !l.stopped(); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if k.Tag == "!!merge" {
				l.walkMerged(v, id, yamlPos(k))
				continue
			}
			if c := l.add(id, k.Value, yamlPos(k), true); c >= 0 {
				l.walkYAML(v, c)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if l.stopped() {
				return
			}
			if ci := l.addIndex(id, yamlPos(c)); ci >= 0 {
				l.walkYAML(c, ci)
			}
		}
	}
}

// walkMerged records the keys a merge key brings into node id, at the
// merge key's position: that is where the reader of the file sees them
// arrive. Keys written in the mapping itself are no duplicates of them.
func (l *Lines) walkMerged(v *yaml.Node, id int32, pos Pos) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if c.Kind == yaml.AliasNode && c.Alias != nil {
				c = c.Alias
			}
			if c.Kind == yaml.MappingNode {
				l.mergeKeys(c, id, pos)
			}
		}
	case yaml.MappingNode:
		l.mergeKeys(v, id, pos)
	}
}

func (l *Lines) mergeKeys(m *yaml.Node, id int32, pos Pos) {
	for i := 0; i+1 < len(m.Content) && !l.stopped(); i += 2 {
		if l.lim.Aliases > 0 && l.merged >= l.lim.Aliases {
			return // positions are best effort; the decoder reports the excess
		}
		l.merged++
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Tag != "!!merge" {
			l.add(id, k.Value, pos, false)
		}
	}
}

// countNodes counts the nodes under n, aliases not followed.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, x := range n.Content {
		c += countNodes(x)
	}
	return c
}
