package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/gracekit/gracekit/internal/docpos"
)

// YAML syntax errors in words. yaml.v3 names the line where its parser
// gave up, which is often not the line to fix ("greeting: [oops" on line 2
// is reported at line 1, a key without its colon on line 2 at line 3), and
// words it in the parser's terms ("found character that cannot start any
// token" for a tab). So the loader reads the text once more with a small
// scanner of its own, which knows quotes, flow brackets, block scalars,
// comments and indentation but not the rest of YAML, and uses what it
// finds to name the place and the mistake. It takes time in proportion to
// the size of the file. When it finds nothing that explains yaml.v3's
// message, yaml.v3's own message and line are kept.

// yamlScan is what the scanner found, each field the first of its kind.
type yamlScan struct {
	lines []yamlLine

	tab        docpos.Pos // a tab in the indentation of a line
	quote      docpos.Pos // a quote that is never closed
	quoteChar  byte
	open       docpos.Pos // a bracket that is never closed
	openChar   byte
	closer     docpos.Pos // a bracket that closes nothing, or the wrong one
	closerChar byte
	closes     docpos.Pos // the bracket a wrong closer meets
	closesChar byte
	badStart   docpos.Pos // a plain value that starts with @ or `
	badChar    byte
	colon      docpos.Pos // a second ": " in a plain value (its start)
	colonLine  int
	secondDoc  int                   // the line of a "---" that starts a second document
	aliases    map[string]docpos.Pos // *name, where first used
}

// yamlLine describes one line of the document.
type yamlLine struct {
	content  bool // holds something other than spaces and a comment
	flow     bool // starts inside a flow collection or a quoted string
	block    bool // is inside a block scalar (| or >)
	indent   int  // spaces before the content
	col      int  // 1-based column of the content
	colon    bool // has a ": " (or ends with ":") outside quotes and brackets
	valueCol int  // column of the value after the first colon, 0 if none
	listItem bool // starts with "- "
	text     string
}

// scanYAML reads data as described above.
func scanYAML(data []byte) *yamlScan {
	s := &yamlScan{aliases: map[string]docpos.Pos{}}
	raw := bytes.Split(data, []byte("\n"))
	type bracket struct {
		c   byte
		pos docpos.Pos
	}
	var stack []bracket
	var inQuote byte
	var quotePos docpos.Pos
	blockIndent := -1 // the indentation of the line that opened a block scalar
	seenContent := false
	for li, rawLine := range raw {
		lineNo := li + 1
		line := strings.TrimSuffix(string(rawLine), "\r")
		info := yamlLine{text: line, flow: inQuote != 0 || len(stack) > 0}
		// Indentation: spaces, and tabs that should not be there.
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		blank := i == len(line) || line[i] == '#'
		if blockIndent >= 0 {
			if spaces := len(line) - len(strings.TrimLeft(line, " ")); strings.TrimSpace(line) == "" || spaces > blockIndent {
				info.block = true
				s.lines = append(s.lines, info)
				continue
			}
			blockIndent = -1
		}
		if !info.flow {
			if tab := strings.IndexByte(line[:i], '\t'); tab >= 0 && !blank && s.tab.Line == 0 {
				s.tab = docpos.Pos{Line: lineNo, Column: tab + 1}
			}
			if line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t") {
				if seenContent && s.secondDoc == 0 {
					s.secondDoc = lineNo
				}
				seenContent = true
				s.lines = append(s.lines, info)
				continue
			}
		}
		info.indent = strings.IndexFunc(line, func(r rune) bool { return r != ' ' })
		if info.indent < 0 {
			info.indent = len(line)
		}
		info.col = i + 1
		info.content = !blank || info.flow
		if !blank {
			seenContent = true
		}
		start := true // a value or key may start here
		for j := i; j < len(line); j++ {
			c := line[j]
			pos := docpos.Pos{Line: lineNo, Column: j + 1}
			if inQuote != 0 {
				switch {
				case inQuote == '"' && c == '\\':
					j++
				case c == inQuote && inQuote == '\'' && j+1 < len(line) && line[j+1] == '\'':
					j++
				case c == inQuote:
					inQuote = 0
					start = false
				}
				continue
			}
			if c == ' ' || c == '\t' {
				continue
			}
			if c == '#' && (j == 0 || line[j-1] == ' ' || line[j-1] == '\t') {
				break
			}
			next := byte(' ')
			if j+1 < len(line) {
				next = line[j+1]
			}
			if start {
				switch {
				case c == '"' || c == '\'':
					inQuote, quotePos = c, pos
					continue
				case c == '[' || c == '{':
					stack = append(stack, bracket{c, pos})
					continue
				case c == '-' && len(stack) == 0 && (next == ' ' || next == '\t' || j+1 == len(line)):
					if j == i {
						info.listItem = true
					}
					continue
				case c == '?' && (next == ' ' || j+1 == len(line)):
					continue
				case c == '@' || c == '`':
					if s.badStart.Line == 0 {
						s.badStart, s.badChar = pos, c
					}
				case c == '*' || c == '&' || c == '!':
					k := j + 1
					for k < len(line) && !strings.ContainsRune(" \t,[]{}", rune(line[k])) {
						k++
					}
					if name := line[j+1 : k]; c == '*' && name != "" {
						if _, ok := s.aliases[name]; !ok {
							s.aliases[name] = pos
						}
					}
					j = k - 1
					if c == '*' {
						start = false
					}
					continue
				case (c == '|' || c == '>') && len(stack) == 0:
					blockIndent = info.indent
					j = len(line)
					continue
				}
				if c != ']' && c != '}' && c != ',' {
					start = false
				}
			}
			switch {
			case c == ':' && (next == ' ' || next == '\t' || j+1 == len(line) || len(stack) > 0 && strings.IndexByte(",]}", next) >= 0):
				if len(stack) == 0 {
					if info.colon && s.colon.Line == 0 {
						s.colon, s.colonLine = docpos.Pos{Line: lineNo, Column: info.valueCol}, lineNo
					}
					if !info.colon {
						info.colon = true
						for k := j + 1; k < len(line); k++ {
							if line[k] != ' ' && line[k] != '\t' {
								if line[k] != '#' {
									info.valueCol = k + 1
								}
								break
							}
						}
					}
				}
				start = true
			case len(stack) > 0 && c == ',':
				start = true
			case c == ']' || c == '}':
				want := byte('[')
				if c == '}' {
					want = '{'
				}
				switch {
				case len(stack) == 0:
					if s.closer.Line == 0 {
						s.closer, s.closerChar = pos, c
					}
				case stack[len(stack)-1].c != want:
					if s.closer.Line == 0 {
						top := stack[len(stack)-1]
						s.closer, s.closerChar, s.closes, s.closesChar = pos, c, top.pos, top.c
					}
					stack = stack[:len(stack)-1]
				default:
					stack = stack[:len(stack)-1]
				}
				start = false
			}
		}
		s.lines = append(s.lines, info)
	}
	if inQuote != 0 {
		s.quote, s.quoteChar = quotePos, inQuote
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		s.open, s.openChar = top.pos, top.c
	}
	return s
}

// line returns the information about a 1-based line, or nil.
func (s *yamlScan) line(n int) *yamlLine {
	if n < 1 || n > len(s.lines) {
		return nil
	}
	return &s.lines[n-1]
}

// contentBefore returns the last line before line n that holds content
// outside brackets, quotes and block scalars, or 0.
func (s *yamlScan) contentBefore(n int) int {
	for k := n - 1; k >= 1; k-- {
		if l := s.line(k); l.content && !l.block {
			return k
		}
	}
	return 0
}

var yamlErrorRE = lazyRegexp(`^yaml: (?:line (\d+): )?`)

// explainYAML turns yaml.v3's syntax error about data into the place to
// fix and what is wrong there, in words.
func explainYAML(data []byte, err error) (docpos.Pos, string) {
	msg := err.Error()
	line := 0
	if m := yamlErrorRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	}
	s := scanYAML(data)
	at := func(p docpos.Pos, text string) (docpos.Pos, string) { return p, "not valid YAML: " + text }
	switch {
	case strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token"):
		if s.tab.Line > 0 {
			return at(s.tab, fmt.Sprintf("a tab at column %d indents this line: YAML indents with spaces only; replace the tab with spaces", s.tab.Column))
		}
		if s.badStart.Line > 0 {
			return at(s.badStart, fmt.Sprintf("a value cannot start with %s (column %d): put the value in quotes", strconv.Quote(string(s.badChar)), s.badStart.Column))
		}
	case strings.Contains(msg, "end of stream") || strings.Contains(msg, "did not find expected ',' or") ||
		strings.Contains(msg, "expected node content") || strings.Contains(msg, "while parsing a flow") || strings.Contains(msg, "while scanning a quoted"):
		if p, text, ok := s.bracketsOrQuotes(); ok {
			return at(p, text)
		}
	case strings.Contains(msg, "mapping values are not allowed"):
		if p, text, ok := s.mappingValue(line); ok {
			return at(p, text)
		}
	case strings.Contains(msg, "could not find expected ':'"):
		for n := line; n >= 1; n = s.contentBefore(n) {
			if l := s.line(n); l != nil && l.content && !l.colon && !l.listItem && !l.flow && !l.block {
				return at(docpos.Pos{Line: n, Column: l.col}, missingColon(l))
			}
		}
	case strings.Contains(msg, "did not find expected key") || strings.Contains(msg, "expected '-' indicator"):
		if p, text, ok := s.indentation(strings.Contains(msg, "'-'")); ok {
			return at(p, text)
		}
	case strings.HasPrefix(msg, "unknown anchor"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if p, ok := s.aliases[name]; ok {
			return at(p, fmt.Sprintf("the alias *%s at column %d names no anchor: write &%s before the value it stands for, earlier in the file", name, p.Column, name))
		}
	}
	// A mistake the scanner is sure of explains most other messages too.
	if p, text, ok := s.bracketsOrQuotes(); ok {
		return at(p, text)
	}
	if s.tab.Line > 0 {
		return at(s.tab, fmt.Sprintf("a tab at column %d indents this line: YAML indents with spaces only; replace the tab with spaces", s.tab.Column))
	}
	return at(docpos.Pos{Line: line}, msg)
}

// bracketsOrQuotes reports a quote or a bracket that is never closed, or
// a bracket that closes nothing or the wrong one.
func (s *yamlScan) bracketsOrQuotes() (docpos.Pos, string, bool) {
	name := func(c byte) string {
		if c == '[' || c == ']' {
			return "list"
		}
		return "mapping"
	}
	q := func(c byte) string { return strconv.Quote(string(c)) }
	closing := map[byte]byte{'[': ']', '{': '}'}
	switch {
	case s.closer.Line > 0 && s.closes.Line > 0:
		return s.closer, fmt.Sprintf("the %s at column %d does not close the %s at line %d, column %d: close a %s with %s", q(s.closerChar), s.closer.Column, q(s.closesChar), s.closes.Line, s.closes.Column, name(s.closesChar), q(closing[s.closesChar])), true
	case s.closer.Line > 0 && (s.open.Line == 0 || s.closer.Line < s.open.Line):
		return s.closer, fmt.Sprintf("the %s at column %d closes no %s: remove it, or put the value in quotes", q(s.closerChar), s.closer.Column, name(s.closerChar)), true
	case s.quote.Line > 0:
		kind := "double"
		if s.quoteChar == '\'' {
			kind = "single"
		}
		return s.quote, fmt.Sprintf("the %s quote (%c) at column %d starts a string that is never closed: end the string with %c", kind, s.quoteChar, s.quote.Column, s.quoteChar), true
	case s.open.Line > 0:
		return s.open, fmt.Sprintf("the %s at column %d starts a %s that is never closed: end it with %s, or put the value in quotes if the %s is part of the text", q(s.openChar), s.open.Column, name(s.openChar), q(closing[s.openChar]), q(s.openChar)), true
	}
	return docpos.Pos{}, "", false
}

// mappingValue explains "mapping values are not allowed in this context"
// reported at line n: a plain value with ": " in it, a key without its
// colon just before, or a line indented under a key that has a value.
func (s *yamlScan) mappingValue(n int) (docpos.Pos, string, bool) {
	if s.colonLine == n && n > 0 {
		l := s.line(n)
		return s.colon, fmt.Sprintf("the value at column %d holds \": \", which YAML reads as the start of another key: put the value in quotes, as in %s", s.colon.Column, quoteValue(l.text, s.colon.Column)), true
	}
	p := s.contentBefore(n)
	prev, cur := s.line(p), s.line(n)
	if prev == nil || cur == nil || prev.flow {
		return docpos.Pos{}, "", false
	}
	if !prev.colon && !prev.listItem {
		return docpos.Pos{Line: p, Column: prev.col}, missingColon(prev), true
	}
	if cur.indent > prev.indent && prev.colon && prev.valueCol > 0 {
		key := strings.TrimSpace(prev.text[prev.indent:])
		key, _, _ = strings.Cut(key, ":")
		return docpos.Pos{Line: n, Column: cur.col}, fmt.Sprintf("this line is indented more than the key %q on line %d, which already has a value: indent it by %d spaces, as %q is", key, p, prev.indent, key), true
	}
	return docpos.Pos{}, "", false
}

// indentation finds a line whose indentation lines up with no key above
// it, or with list true a key among the items of a list.
func (s *yamlScan) indentation(list bool) (docpos.Pos, string, bool) {
	var levels []int
	prev := 0
	for n := 1; n <= len(s.lines); n++ {
		l := s.line(n)
		if !l.content || l.flow || l.block {
			continue
		}
		if p := s.line(prev); list && p != nil && p.listItem && !l.listItem && l.indent == p.indent {
			return docpos.Pos{Line: n, Column: l.col}, fmt.Sprintf("this line is a key among the items of a list (the lines that start with \"- \", such as line %d): start it with \"- \" too, or move it out of the list", prev), true
		}
		for len(levels) > 0 && levels[len(levels)-1] > l.indent {
			levels = levels[:len(levels)-1]
		}
		if len(levels) > 0 && levels[len(levels)-1] != l.indent && s.line(prev).indent > l.indent {
			return docpos.Pos{Line: n, Column: l.col}, fmt.Sprintf("this line is indented by %d spaces, which lines up with no key above it: indent it like the keys it belongs with (%d or %d spaces)", l.indent, levels[len(levels)-1], s.line(prev).indent), true
		}
		if len(levels) == 0 || levels[len(levels)-1] < l.indent {
			levels = append(levels, l.indent)
		}
		prev = n
	}
	return docpos.Pos{}, "", false
}

// missingColon says that a line has no colon after its key.
func missingColon(l *yamlLine) string {
	text := strings.TrimSpace(l.text[l.indent:])
	if i := strings.Index(text, " #"); i >= 0 {
		text = strings.TrimSpace(text[:i])
	}
	key, value, hasValue := strings.Cut(text, " ")
	example := key + ": value"
	if hasValue {
		example = key + ": " + strings.TrimSpace(value)
	}
	return fmt.Sprintf("%q has no colon: write the key, a colon and a space, then the value, as in %q", text, example)
}

// quoteValue writes a line with its value, from column col, in double
// quotes.
func quoteValue(line string, col int) string {
	key := strings.TrimSpace(line[:col-1])
	value := strings.TrimSpace(line[col-1:])
	if i := strings.Index(value, " #"); i >= 0 {
		value = strings.TrimSpace(value[:i])
	}
	return key + " " + strconv.Quote(value)
}
