// Package docpos finds where each key of a YAML, JSON or TOML document is
// written, so that error messages can point at it, and measures the
// document's shape against limits before a decoder sees it.
//
// It is best effort about positions: a document it cannot read yields the
// positions up to the syntax error, never an error, because the
// document's own parser reports syntax errors. Its work and memory are
// linear in the size of the document: keys are kept in a tree of nodes,
// never as copied paths, and a walk stops at the first limit exceeded.
package docpos

import (
	"strconv"
)

// Pos is where a key is written: a 1-based line and column. The zero Pos
// means unknown.
type Pos struct {
	Line, Column int
}

// Limits bound the shape of a document. A zero field means no limit.
type Limits struct {
	// Depth is the longest key path: a top-level key has a path of 1, a
	// key inside it 2, and an item of a list counts as one more.
	Depth int
	// Keys is the most keys one mapping may hold.
	Keys int
	// Aliases is the most keys that YAML merge keys ("<<: *base") may
	// bring into the document, in all.
	Aliases int
}

// Exceeded says which limit a document broke, and where.
type Exceeded struct {
	// Limit is "depth" or "keys".
	Limit string
	// Path is the key path of the mapping or list that broke it.
	Path []string
	// Pos is where the key that broke it is written.
	Pos Pos
	// Max is the limit that was broken.
	Max int
}

// Dup is a key written more than once in one mapping, reported once.
type Dup struct {
	// Path is the key path.
	Path []string
	// First is where the key is first written.
	First Pos
	// Again lists where it is written again: the first MaxAgain places.
	Again []Pos
	// Count is how many times the key is written in all.
	Count int
}

// MaxAgain is how many repeated places a Dup lists.
const MaxAgain = 3

// Lines maps key paths to where the keys are written.
type Lines struct {
	nodes    []entry // nodes[0] is the document's root
	children map[child]int32
	items    map[int32][]int32 // the items of each list node
	dups     []Dup
	dupOf    map[int32]int // node -> index in dups
	exceeded *Exceeded
	lim      Limits
	merged   int // keys brought in by merge keys so far
}

// entry is one key or list item of the tree.
type entry struct {
	line, column int32
	parent       int32
	depth        int32 // the length of its key path
	nkeys        int32 // keys inside it so far
	index        int32 // of a list item; -1 for a key
	key          string
}

func (e *entry) pos() Pos { return Pos{int(e.line), int(e.column)} }

func clampPos(p Pos) (int32, int32) {
	const max = 1<<31 - 1
	return int32(min(p.Line, max)), int32(min(p.Column, max))
}

// child names a key inside a parent node.
type child struct {
	parent int32
	key    string
}

// newLines returns an empty tree with room for about n nodes: growing a
// large slice step by step would allocate several times its final size.
func newLines(lim Limits, n int) *Lines {
	nodes := make([]entry, 1, n+1)
	nodes[0] = entry{parent: -1, index: -1}
	return &Lines{nodes: nodes, children: map[child]int32{}, items: map[int32][]int32{}, lim: lim}
}

// separators counts the bytes of data that may start a key or a list
// item in JSON or TOML, for newLines.
func separators(data []byte) int {
	n := 0
	for _, b := range data {
		switch b {
		case '{', '[', ',', '\n':
			n++
		}
	}
	return n
}

// Pos returns where the key at path is written, or its closest ancestor
// that has a position, or the zero Pos when nothing is known.
func (l Lines) Pos(path ...string) Pos {
	var best Pos
	id := int32(0)
	for _, k := range path {
		next, ok := l.children[child{id, k}]
		if !ok {
			i, err := strconv.Atoi(k)
			items := l.items[id]
			if err != nil || i < 0 || i >= len(items) {
				break
			}
			next = items[i]
		}
		id = next
		if p := l.nodes[id].pos(); p.Line > 0 {
			best = p
		}
	}
	return best
}

// Line returns the line of [Lines.Pos].
func (l Lines) Line(path ...string) int { return l.Pos(path...).Line }

// Duplicates returns the keys written more than once in one mapping, once
// each, in document order. YAML and JSON report them; TOML's parser
// refuses duplicates itself, with rules about tables that only it knows.
func (l Lines) Duplicates() []Dup { return l.dups }

// Exceeded returns the first limit the document broke, or nil.
func (l Lines) Exceeded() *Exceeded { return l.exceeded }

// Of returns the positions of a document in the given format: "yaml",
// "json" or "toml", checked against lim.
func Of(format string, data []byte, lim Limits) Lines {
	switch format {
	case "yaml":
		return YAML(data, lim)
	case "json":
		return JSON(data, lim)
	case "toml":
		return TOML(data, lim)
	}
	return Lines{}
}

// stopped reports whether a limit was broken, which ends the walk.
func (l *Lines) stopped() bool { return l.exceeded != nil }

// add records the key k inside node parent, written at pos, and returns
// its node. A key already there is a duplicate when dup is true (it keeps
// the first position). It returns -1 when a limit is broken.
func (l *Lines) add(parent int32, k string, pos Pos, dup bool) int32 {
	if l.stopped() {
		return -1
	}
	if id, ok := l.children[child{parent, k}]; ok {
		if dup {
			l.duplicate(id, pos)
		}
		if l.nodes[id].line == 0 {
			l.nodes[id].line, l.nodes[id].column = clampPos(pos)
		}
		return id
	}
	if l.lim.Keys > 0 && int(l.nodes[parent].nkeys) >= l.lim.Keys {
		l.exceed("keys", parent, pos, l.lim.Keys)
		return -1
	}
	id := l.newNode(parent, k, -1, pos)
	if id >= 0 {
		l.nodes[parent].nkeys++
		l.children[child{parent, k}] = id
	}
	return id
}

// addIndex records the next item of the list at node parent, and returns
// its node, or -1 when a limit is broken. The items of a list do not
// count against Limits.Keys.
func (l *Lines) addIndex(parent int32, pos Pos) int32 {
	if l.stopped() {
		return -1
	}
	id := l.newNode(parent, "", int32(len(l.items[parent])), pos)
	if id >= 0 {
		l.items[parent] = append(l.items[parent], id)
	}
	return id
}

func (l *Lines) newNode(parent int32, k string, index int32, pos Pos) int32 {
	depth := l.nodes[parent].depth + 1
	if l.lim.Depth > 0 && int(depth) > l.lim.Depth {
		l.exceed("depth", parent, pos, l.lim.Depth)
		return -1
	}
	id := int32(len(l.nodes))
	line, col := clampPos(pos)
	l.nodes = append(l.nodes, entry{line: line, column: col, parent: parent, key: k, index: index, depth: depth})
	return id
}

func (l *Lines) duplicate(id int32, pos Pos) {
	if l.dupOf == nil {
		l.dupOf = map[int32]int{}
	}
	i, ok := l.dupOf[id]
	if !ok {
		i = len(l.dups)
		l.dupOf[id] = i
		l.dups = append(l.dups, Dup{Path: l.path(id), First: l.nodes[id].pos(), Count: 1})
	}
	d := &l.dups[i]
	d.Count++
	if len(d.Again) < MaxAgain {
		d.Again = append(d.Again, pos)
	}
}

func (l *Lines) exceed(limit string, parent int32, pos Pos, max int) {
	l.exceeded = &Exceeded{Limit: limit, Path: l.path(parent), Pos: pos, Max: max}
}

// path returns the key path of node id.
func (l *Lines) path(id int32) []string {
	out := make([]string, l.nodes[id].depth)
	for i := len(out) - 1; id > 0; i, id = i-1, l.nodes[id].parent {
		if e := &l.nodes[id]; e.index >= 0 {
			out[i] = strconv.Itoa(int(e.index))
		} else {
			out[i] = e.key
		}
	}
	return out
}
