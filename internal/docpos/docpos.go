// Package docpos finds the line on which each key of a YAML, JSON or TOML
// document is written, so that error messages can point at it.
//
// It is best effort: a document it cannot read yields no lines, never an
// error, because the document's own parser reports syntax errors.
package docpos

import "strings"

// Lines maps key paths to the 1-based line where the key is written.
type Lines struct {
	lines map[string]int
	// dups lists key paths written more than once in the same mapping,
	// for formats whose usual parser keeps the last one silently (JSON).
	dups []Dup
}

// Dup is a key written twice in the same mapping.
type Dup struct {
	Path []string
	Line int
}

// Line returns the line of the key at path, or of its closest ancestor
// that has one, or 0 when nothing is known.
func (l Lines) Line(path ...string) int {
	for n := len(path); n > 0; n-- {
		if line, ok := l.lines[join(path[:n])]; ok {
			return line
		}
	}
	return 0
}

// Duplicates returns the keys written twice in one mapping, in document
// order. Only JSON reports them: YAML and TOML parsers refuse duplicates.
func (l Lines) Duplicates() []Dup { return l.dups }

// Of returns the lines of a document in the given format: "yaml", "json"
// or "toml".
func Of(format string, data []byte) Lines {
	switch format {
	case "yaml":
		return YAML(data)
	case "json":
		return JSON(data)
	case "toml":
		return TOML(data)
	}
	return Lines{}
}

func (l *Lines) set(path []string, line int) {
	if line <= 0 {
		return
	}
	if l.lines == nil {
		l.lines = make(map[string]int)
	}
	k := join(path)
	if _, ok := l.lines[k]; !ok {
		l.lines[k] = line
	}
}

// join makes a map key from a path; NUL cannot appear in the keys of a
// configuration file written by hand.
func join(path []string) string { return strings.Join(path, "\x00") }
