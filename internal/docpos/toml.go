package docpos

import (
	"github.com/pelletier/go-toml/v2/unstable"
)

// TOML returns the lines of the keys in data: table headers, dotted keys
// and the keys of inline tables.
func TOML(data []byte) (l Lines) {
	defer func() {
		// The unstable parser is not meant to panic, but a line number is
		// not worth crashing a program for.
		if recover() != nil {
			l = Lines{}
		}
	}()
	p := unstable.Parser{}
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0:0]
			it := e.Key()
			for it.Next() {
				k := it.Node()
				table = append(table, string(k.Data))
				l.set(table, lineOf(&p, k))
			}
		case unstable.KeyValue:
			tomlKeyValue(&l, &p, e, table)
		}
	}
	return l
}

// tomlKeyValue records the keys of one "a.b = value" expression, and of
// the inline tables in its value, under the table prefix.
func tomlKeyValue(l *Lines, p *unstable.Parser, kv *unstable.Node, prefix []string) {
	path := append([]string(nil), prefix...)
	it := kv.Key()
	for it.Next() {
		k := it.Node()
		path = append(path, string(k.Data))
		l.set(path, lineOf(p, k))
	}
	v := kv.Value()
	if v != nil && v.Kind == unstable.InlineTable {
		children := v.Children()
		for children.Next() {
			c := children.Node()
			if c.Kind == unstable.KeyValue {
				tomlKeyValue(l, p, c, path)
			}
		}
	}
}

// lineOf returns the line of a key node, or 0 when its bytes are not a
// slice of the document (a quoted key with escapes is decoded into a
// fresh buffer, and the parser's Range panics on those).
func lineOf(p *unstable.Parser, n *unstable.Node) (line int) {
	if len(n.Data) == 0 {
		return 0
	}
	defer func() {
		if recover() != nil {
			line = 0
		}
	}()
	return p.Shape(p.Range(n.Data)).Start.Line
}
