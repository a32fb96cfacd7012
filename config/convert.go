package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gracekit/gracekit/internal/docpos"
	"github.com/gracekit/gracekit/internal/suggest"
)

// layer is one source of settings read by Load: a file, the environment
// or the command-line flags.
type layer struct {
	// name identifies the layer in problems about it as a whole.
	name string
	// data is the nested map the source's parser produced.
	data map[string]any
	// textual is true for the environment and flags, whose string values
	// may stand for numbers, booleans and lists.
	textual bool
	// document is true for files, which follow the JSON Schema's rules
	// about keys that come together.
	document bool
	// format is the format of a file: "yaml", "json" or "toml".
	format string
	// where tells where the key at path was written.
	where func(path []string) (source string, pos docpos.Pos)
	// secrets maps the keys whose values were read from files named by
	// _FILE variables to those files.
	valueFiles map[string]string
	// hints maps keys to a sentence added to the problems about their
	// values.
	hints map[string]string
}

// origin says where a setting's value came from.
type origin struct {
	source    string
	pos       docpos.Pos
	rank      int    // the layer, for sorting problems
	valueFile string // the file that held the value, for a _FILE variable
}

// converter checks one layer against the model and turns its values into
// the forms the loader merges: sizes as int64 bytes, durations as int64
// nanoseconds, numbers in the Go type of their field.
type converter struct {
	layer   *layer
	ps      *problems
	origins map[string]origin
	secret  map[string]bool // the settings tagged secret
}

// convert checks every key and value of l and returns the values that
// are right, with where each came from. Problems go to ps.
func convert(model *node, l *layer, ps *problems) (map[string]any, map[string]origin) {
	c := &converter{layer: l, ps: ps, origins: map[string]origin{}, secret: secretKeys(model)}
	out := c.section(model, l.data, nil)
	return out, c.origins
}

// problem records a problem about the key at path.
func (c *converter) problem(path []string, key string, value any, msg string) {
	if c.ps.full() {
		c.ps.omit()
		return
	}
	src, pos := c.layer.where(path)
	p := Problem{Key: key, Source: src, Line: pos.Line, Column: pos.Column, Message: msg}
	if value != nil || key != "" {
		p.Value = show(value)
	}
	if hint := c.layer.hints[leafKey(path)]; hint != "" {
		p.Message += " (" + hint + ")"
	}
	if file, ok := c.layer.valueFiles[leafKey(path)]; ok {
		// The value may be a secret: the message names its file instead.
		if s, isText := value.(string); isText && s != "" {
			p.Message = strings.ReplaceAll(p.Message, strconv.Quote(s), "the content of "+file)
		}
		p.Value = ""
	} else if c.secret[leafKey(path)] {
		p.Message = redact(p.Message, value)
		p.Value = ""
	}
	c.ps.add(p)
}

func (c *converter) section(n *node, m map[string]any, path []string) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := append(append([]string(nil), path...), k)
		child := n.child(k)
		if child == nil {
			c.unknown(n, k, m[k], p)
			continue
		}
		if v, ok := c.value(child, m[k], p); ok {
			out[k] = v
			src, pos := c.layer.where(p)
			key := displayKey(p)
			c.origins[key] = origin{source: src, pos: pos, valueFile: c.layer.valueFiles[key]}
		}
	}
	if c.layer.document {
		c.documentRules(n, m, path)
	}
	return out
}

// unknown reports a key that n does not have, with the closest key it
// does have.
func (c *converter) unknown(n *node, key string, value any, path []string) {
	if c.ps.full() {
		c.ps.omit()
		return
	}
	msg := "unknown key"
	if s := suggest.Closest(key, n.keys()); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if len(n.path) == 0 {
		msg += "; the top-level keys are " + strings.Join(n.keys(), ", ")
	} else {
		msg += fmt.Sprintf("; the keys of %s are %s", n.dotted(), strings.Join(n.keys(), ", "))
	}
	c.problem(path, displayKey(path), value, msg)
}

// documentRules applies the rules about keys a file writes together.
func (c *converter) documentRules(n *node, m map[string]any, path []string) {
	r, ok := reflect.Zero(n.typ).Interface().(interface {
		documentRules(present func(string) bool) []Problem
	})
	if !ok {
		return
	}
	present := func(k string) bool { _, ok := m[k]; return ok }
	for _, p := range r.documentRules(present) {
		kp := append(append([]string(nil), path...), p.Key)
		c.problem(kp, displayKey(kp), m[p.Key], p.Message)
	}
}

// value checks one value against its setting and converts it. It reports
// a problem and returns false when the value is wrong.
func (c *converter) value(n *node, v any, path []string) (any, bool) {
	key := displayKey(path)
	fail := func(msg string) (any, bool) {
		c.problem(path, key, v, msg)
		return nil, false
	}
	if s, ok := v.(string); ok && c.layer.textual && n.kind != kindString && n.kind != kindText {
		return c.text(n, s, path)
	}
	switch n.kind {
	case kindSection:
		m, err := stringMap(v)
		if err != "" {
			return fail(err)
		}
		if m == nil {
			msg := fmt.Sprintf("%s, not a section: write the keys of %s under it (%s)", describeValue(v), n.key, strings.Join(n.keys(), ", "))
			if s, ok := v.(string); ok {
				// YAML reads "app:\n  apiToken x" as the text "apiToken x".
				if key, rest, ok := strings.Cut(s, " "); ok && n.child(key) != nil {
					msg = fmt.Sprintf("%q is text, not a section: the key %s has no colon after it; write %q", s, key, key+": "+rest)
				}
			}
			return fail(msg)
		}
		return c.section(n, m, path), true
	case kindString:
		if s, ok := v.(string); ok {
			return s, true
		}
		return fail(wrongType(v, "a string", "quote it"))
	case kindText:
		s, ok := v.(string)
		if !ok {
			return fail(wrongType(v, "a string", "quote it"))
		}
		if err := unmarshalText(n.typ, s); err != nil {
			return fail(fmt.Sprintf("%q is not a valid %s: %v", s, n.typ, err))
		}
		return s, true
	case kindBool:
		if b, ok := v.(bool); ok {
			return b, true
		}
		return fail(wrongType(v, "a boolean", "write true or false"))
	case kindInt, kindUint, kindFloat:
		return c.number(n, v, v, path)
	case kindSize:
		if s, ok := v.(string); ok {
			size, err := ParseSize(s)
			if err != nil {
				return fail(err.Error())
			}
			return int64(size), true
		}
		num := asNumber(v)
		switch {
		case !num.ok:
			return fail(wrongType(v, "a size", sizeForms))
		case num.negative:
			return fail(fmt.Sprintf("%s is negative: a size is 0 or more bytes", show(v)))
		case !num.whole:
			return fail(fmt.Sprintf("%s is not a whole number of bytes: %s", show(v), sizeForms))
		case !num.fits:
			return fail(fmt.Sprintf("%s is too large: the largest size is 9223372036854775807 bytes (8 EiB - 1)", show(v)))
		}
		return num.i, true
	case kindDuration:
		switch d := v.(type) {
		case string:
			dur, err := ParseDuration(d)
			if err != nil {
				return fail(err.Error())
			}
			return int64(dur), true
		case time.Duration: // from a pflag Duration flag
			if d < 0 {
				return fail(fmt.Sprintf("%s is negative: a duration is 0 or more", d))
			}
			return int64(d), true
		}
		num := asNumber(v)
		switch {
		case !num.ok:
			return fail(wrongType(v, "a duration", durationForms))
		case num.negative:
			return fail(fmt.Sprintf("%s is negative: a duration is 0 or more", show(v)))
		case math.IsNaN(num.f) || math.IsInf(num.f, 0):
			return fail(fmt.Sprintf("%s is not a length of time: %s", show(v), durationForms))
		case num.f != 0:
			text := strconv.FormatFloat(num.f, 'f', -1, 64)
			return fail(noUnit(text, text))
		}
		return int64(0), true
	case kindList:
		items, ok := anySlice(v)
		if !ok {
			return fail(wrongType(v, "a list", "write a list, such as [a, b]"))
		}
		return c.list(n, items, path)
	}
	return fail("this setting cannot be read from a file")
}

// list converts the items of a list setting.
func (c *converter) list(n *node, items []any, path []string) (any, bool) {
	out := make([]any, len(items))
	good := true
	for i, item := range items {
		p := append(append([]string(nil), path...), "["+strconv.Itoa(i)+"]")
		v, ok := c.value(n.elem, item, p)
		out[i] = v
		good = good && ok
	}
	return out, good
}

// number converts a value for an int, uint or float setting, checking that
// it fits the field's type. shown is the value as the user wrote it: v
// itself, or the text v was parsed from.
func (c *converter) number(n *node, v, shown any, path []string) (any, bool) {
	key := displayKey(path)
	fail := func(msg string) (any, bool) {
		c.problem(path, key, shown, msg)
		return nil, false
	}
	num := asNumber(v)
	if n.kind == kindFloat {
		if !num.ok {
			return fail(wrongType(v, "a number", "write a number"))
		}
		if math.IsInf(num.f, 0) || math.IsNaN(num.f) {
			return fail(fmt.Sprintf("%s is not a finite number: JSON cannot hold it, so write a number", show(shown)))
		}
		return num.f, true
	}
	want := "a whole number"
	if !num.ok {
		hint := "write a whole number"
		if s, ok := v.(string); ok {
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				hint = "write " + s + " without quotes"
			}
		}
		return fail(wrongType(v, want, hint))
	}
	if !num.whole {
		return fail(fmt.Sprintf("%s is not a whole number", show(shown)))
	}
	zero := reflect.New(n.typ).Elem()
	if n.kind == kindUint {
		if num.negative {
			return fail(fmt.Sprintf("%s is negative: write a whole number from 0 up", show(shown)))
		}
		if !num.ufits || zero.OverflowUint(num.u) {
			return fail(fmt.Sprintf("%s is too large: the largest value is %d", show(shown), uint64(math.MaxUint64)>>(64-n.typ.Bits())))
		}
		zero.SetUint(num.u)
		return zero.Interface(), true
	}
	if !num.fits || zero.OverflowInt(num.i) {
		lo := int64(-1) << (n.typ.Bits() - 1)
		if num.negative {
			return fail(fmt.Sprintf("%s is too small: the smallest value is %d", show(shown), lo))
		}
		return fail(fmt.Sprintf("%s is too large: the largest value is %d", show(shown), -(lo + 1)))
	}
	zero.SetInt(num.i)
	return zero.Interface(), true
}

// text converts a string from the environment or a string flag, which may
// stand for any kind of value.
func (c *converter) text(n *node, s string, path []string) (any, bool) {
	key := displayKey(path)
	fail := func(msg string) (any, bool) {
		c.problem(path, key, s, msg)
		return nil, false
	}
	switch n.kind {
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fail(fmt.Sprintf("%q is not a boolean: write true or false", s))
		}
		return b, true
	case kindInt, kindUint:
		if n.kind == kindUint && strings.HasPrefix(s, "-") {
			return fail(fmt.Sprintf("%q is negative: write a whole number from 0 up", s))
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return c.number(n, i, s, path)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return c.number(n, u, s, path)
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) {
			return c.number(n, f, s, path)
		}
		return fail(fmt.Sprintf("%q is not a whole number", s))
	case kindFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fail(fmt.Sprintf("%q is not a number", s))
		}
		return c.number(n, f, s, path)
	case kindSection:
		return fail(fmt.Sprintf("%q is text, not a section: set the keys of %s one by one", s, n.key))
	case kindList:
		var items []any
		if s != "" {
			for part := range strings.SplitSeq(s, ",") {
				items = append(items, strings.TrimSpace(part))
			}
		}
		return c.list(n, items, path)
	}
	// Sizes and durations read strings themselves.
	tc := *c
	tl := *c.layer
	tl.textual = false
	tc.layer = &tl
	return tc.value(n, s, path)
}

// stringMap returns v as a map with string keys, nil when v is not a
// mapping, or a message when its keys are not all strings.
func stringMap(v any) (map[string]any, string) {
	switch m := v.(type) {
	case map[string]any:
		return m, ""
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, val := range m {
			s, ok := k.(string)
			if !ok {
				return nil, fmt.Sprintf("the key %s is %s: keys are names, such as address", show(k), typeName(k))
			}
			out[s] = val
		}
		return out, ""
	}
	return nil, ""
}

// wrongType says that v is not of the wanted type, and how to fix it.
func wrongType(v any, want, hint string) string {
	return fmt.Sprintf("%s, not %s: %s", describeValue(v), want, hint)
}

// describeValue writes "VALUE is TYPE", or "the value is null".
func describeValue(v any) string {
	if v == nil {
		return "the value is empty (null)"
	}
	switch v.(type) {
	case map[string]any, map[any]any, []any:
		return "the value is " + typeName(v)
	}
	return show(v) + " is " + typeName(v)
}

// displayKey writes a key path for messages. List items are path
// elements such as "[2]" and follow their list without a dot: tags[2].
func displayKey(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 && !isIndex(p) {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

// isIndex reports whether a path element is a list index such as "[2]".
func isIndex(p string) bool {
	return len(p) > 2 && p[0] == '[' && p[len(p)-1] == ']' && isDigits(p[1:len(p)-1])
}

// docPath turns a path with list indices such as "[2]" into the path of
// a document position lookup, whose indices are bare numbers.
func docPath(path []string) []string {
	out := make([]string, len(path))
	for i, p := range path {
		if isIndex(p) {
			p = p[1 : len(p)-1]
		}
		out[i] = p
	}
	return out
}

// anySlice returns the items of a list value, whatever the Go type of the
// slice the parser or pflag produced.
func anySlice(v any) ([]any, bool) {
	if items, ok := v.([]any); ok {
		return items, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Slice {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// unmarshalText checks that s is valid text for type t.
func unmarshalText(t reflect.Type, s string) error {
	p := reflect.New(t)
	return p.Interface().(interface{ UnmarshalText([]byte) error }).UnmarshalText([]byte(s))
}
