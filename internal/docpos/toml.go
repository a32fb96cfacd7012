package docpos

import (
	"github.com/pelletier/go-toml/v2/unstable"
)

// TOML returns the positions of the keys in data: table headers, dotted
// keys, the keys of inline tables and the items of arrays. The keys of an
// array of tables ([[name]]) are those of its first element.
func TOML(data []byte, lim Limits) (lines Lines) {
	l := newLines(lim, separators(data))
	defer func() {
		// The unstable parser is not meant to panic, but a position is
		// not worth crashing a program for.
		if recover() != nil {
			lines = *l
		}
	}()
	w := tomlWalk{l: l, lines: lineStarts(data)}
	w.p.Reset(data)
	table := int32(0)
	for w.p.NextExpression() && !l.stopped() {
		e := w.p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = 0
			it := e.Key()
			for it.Next() && table >= 0 {
				k := it.Node()
				table = l.add(table, string(k.Data), w.posOf(k), false)
			}
			if table < 0 {
				return *l
			}
		case unstable.KeyValue:
			w.keyValue(e, table)
		}
	}
	return *l
}

type tomlWalk struct {
	l     *Lines
	p     unstable.Parser
	lines []int64
}

// keyValue records the keys of one "a.b = value" expression, and those
// inside its value, under node id.
func (w *tomlWalk) keyValue(kv *unstable.Node, id int32) {
	it := kv.Key()
	for it.Next() && id >= 0 {
		k := it.Node()
		id = w.l.add(id, string(k.Data), w.posOf(k), false)
	}
	if id >= 0 {
		w.value(kv.Value(), id)
	}
}

// value records the keys inside an inline table or an array.
func (w *tomlWalk) value(v *unstable.Node, id int32) {
	if v == nil {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		children := v.Children()
		for children.Next() && !w.l.stopped() {
			if c := children.Node(); c.Kind == unstable.KeyValue {
				w.keyValue(c, id)
			}
		}
	case unstable.Array:
		children := v.Children()
		for children.Next() && !w.l.stopped() {
			c := children.Node()
			if ci := w.l.addIndex(id, w.posOf(c)); ci >= 0 {
				w.value(c, ci)
			}
		}
	}
}

// posOf returns the position of a node, or the zero Pos when its bytes
// are not a slice of the document (a quoted key with escapes is decoded
// into a fresh buffer, and the parser's Range panics on those). The
// parser's own Shape counts lines from the start of the document, once
// per call: the line index makes each lookup logarithmic instead.
func (w *tomlWalk) posOf(n *unstable.Node) (pos Pos) {
	if len(n.Data) == 0 {
		return Pos{}
	}
	defer func() {
		if recover() != nil {
			pos = Pos{}
		}
	}()
	return position(w.lines, int64(w.p.Range(n.Data).Offset))
}
