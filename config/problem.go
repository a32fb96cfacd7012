package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Key is the path of the setting, such as "server.maxHeaderBytes".
	// It is empty for problems with a whole file, such as a syntax error.
	Key string

	// Value is the offending value as the configuration wrote it (strings
	// quoted), or empty.
	Value string

	// Source says where the value came from: a file name, "env NAME" for
	// an environment variable, "flag --name" (pflag, see [AddFlags]) or
	// "flag -name" (the flag package, see [AddGoFlags]), or "default".
	Source string

	// Line is the 1-based line in Source, or 0 when unknown.
	Line int

	// Column is the 1-based column of the key in Source (in bytes for
	// JSON and TOML, in characters for YAML), or 0 when unknown. Error
	// leaves it out.
	Column int

	// Message says what is wrong and what is accepted.
	Message string
}

// Error formats the problem as "source:line: key: message", leaving out the
// parts that are unknown, on one line of at most about 2 KiB: a key, a
// file name or a message that quotes a document holds what the document
// holds, so control characters (a newline, an escape sequence) are
// written as Go escapes, and the middle of a very long message is left
// out, with a mark that says how much. A log line cannot be forged by a
// file, nor flooded by one.
func (p Problem) Error() string {
	var b strings.Builder
	if p.Source != "" {
		b.WriteString(printable(p.Source))
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(printable(p.Key) + ": ")
	}
	b.WriteString(printable(shortened(p.Message)))
	return b.String()
}

// maxMessage is the length beyond which a problem's message loses its
// middle (see Problem.Error).
const maxMessage = 2048

// shortened keeps the start and the end of a message longer than
// maxMessage: the key and the value it begins with, and the fix it ends
// with.
func shortened(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	head, tail := msg[:maxMessage/2], msg[len(msg)-maxMessage/2:]
	// Whole characters only.
	for len(head) > 0 && !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.ValidString(tail) {
		tail = tail[1:]
	}
	return fmt.Sprintf("%s…(%d bytes left out)…%s", head, len(msg)-len(head)-len(tail), tail)
}

// printable writes the characters of s that could end or forge a line of
// a log or a terminal (control characters, line and paragraph
// separators, text direction overrides, bytes that are not UTF-8) as Go
// escapes; it returns s itself when it has none.
func printable(s string) string {
	unsafe := func(r rune) bool {
		return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError ||
			r == 0x2028 || r == 0x2029 || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
	}
	if !strings.ContainsFunc(s, unsafe) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafe(r) {
			q := strconv.QuoteToASCII(s[i : i+n])
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Error is what [Load] returns when a configuration is wrong: the problems
// found, in the order of the sources, then of the lines; at most
// [MaxProblems] of them, the first ones.
type Error struct {
	Problems []Problem

	// Omitted counts the problems found beyond MaxProblems, which are not
	// listed.
	Omitted int

	// causes are the errors of the files that could not be read.
	causes []error
}

// Unwrap returns the errors of the files that could not be read (those of
// [WithFiles] and those _FILE variables name), so that
// errors.Is(err, fs.ErrNotExist) tells that a file is missing: a program
// can exit 2 then, as for a command-line mistake, rather than 1 for an
// invalid configuration.
func (e *Error) Unwrap() []error { return e.causes }

// Error lists the problems, one per line, and says how many more there
// are.
func (e *Error) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 && e.Omitted == 0 {
		b.WriteString("invalid configuration: ")
		b.WriteString(e.Problems[0].Error())
		return b.String()
	}
	fmt.Fprintf(&b, "invalid configuration: %d problems:", len(e.Problems)+e.Omitted)
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "\n\t... and %d more", e.Omitted)
	}
	return b.String()
}

// problems collects problems with the rank of the layer each came from
// (defaults, files in order, environment, flags), so that they can be
// sorted in the order the sources were read.
//
// It keeps the first keepProblems problems and counts the others, so that
// a file with a hundred thousand mistakes costs no more than one with a
// thousand.
type problems struct {
	list  []Problem
	ranks []int
	// layer is the rank given to the problems added from now on.
	layer int
	// omitted counts the problems that were not kept.
	omitted int
	// causes are the errors of files that could not be read.
	causes []error
}

// keepProblems is how many problems are kept before sorting: enough that
// the first MaxProblems in order are the right ones in any real file.
const keepProblems = 20 * MaxProblems

func (ps *problems) add(p Problem) { ps.addRanked(p, ps.layer) }

func (ps *problems) addRanked(p Problem, rank int) {
	if ps.full() {
		ps.omit()
		return
	}
	ps.list = append(ps.list, p)
	ps.ranks = append(ps.ranks, rank)
}

// full reports whether no more problems are kept: callers may skip the
// work of wording one, and call omit instead.
func (ps *problems) full() bool { return len(ps.list) >= keepProblems }

// omit counts a problem that is not kept.
func (ps *problems) omit() { ps.omitted++ }

// hasKey reports whether a problem was already found for key or for one of
// the keys under it.
func (ps *problems) hasKey(key string) bool {
	for _, p := range ps.list {
		if p.Key == key || strings.HasPrefix(p.Key, key+".") || strings.HasPrefix(key, p.Key+".") {
			return true
		}
	}
	return false
}

// err returns an *Error with the problems sorted and duplicates dropped,
// or nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	type ranked struct {
		p    Problem
		rank int
	}
	all := make([]ranked, len(ps.list))
	for i, p := range ps.list {
		all[i] = ranked{p, ps.ranks[i]}
	}
	slices.SortStableFunc(all, func(x, y ranked) int {
		a, b := x.p, y.p
		return cmp.Or(
			cmp.Compare(x.rank, y.rank),
			strings.Compare(a.Source, b.Source),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Key, b.Key),
			strings.Compare(a.Message, b.Message),
		)
	})
	list := make([]Problem, len(all))
	for i, r := range all {
		list[i] = r.p
	}
	list = slices.Compact(list)
	omitted := ps.omitted
	if len(list) > MaxProblems {
		omitted += len(list) - MaxProblems
		list = list[:MaxProblems:MaxProblems]
	}
	return &Error{Problems: list, Omitted: omitted, causes: ps.causes}
}
