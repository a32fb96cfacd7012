package schema

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/gracekit/gracekit/config"
)

// Problem is one way a document breaks a schema.
type Problem struct {
	// Pointer is the JSON pointer of the offending value, such as
	// "/server/maxHeaderBytes"; "" stands for the whole document.
	Pointer string
	// Key is the same place written as a key path, "server.maxHeaderBytes".
	Key string
	// Line and Column are where the key is written in the document (both
	// 1-based), or 0.
	Line, Column int
	// Message says what the schema wants there.
	Message string
	// Enum, for a value that is not one of a list, is the list, and Value
	// the value.
	Enum  []any
	Value any
}

// Validator checks documents against one compiled JSON Schema.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles a JSON Schema (draft 2020-12 unless it says
// otherwise in $schema).
func NewValidator(schemaJSON []byte) (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("schema: read the schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	const url = "mem:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema: load the schema: %w", err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema: compile the schema: %w", err)
	}
	return &Validator{schema: sch}, nil
}

// Validate checks gracekit's configuration file data, named name (its
// extension gives the format: .yaml, .yml, .json or .toml), against
// gracekit's schema. See [Validator.Validate].
func Validate(name string, data []byte) ([]Problem, error) {
	v, err := gracekit()
	if err != nil {
		return nil, err
	}
	return v.Validate(name, data)
}

// Validate checks the document data, named name (its extension gives the
// format: .yaml, .yml, .json or .toml). It returns the problems sorted by
// line and pointer, none when the document is valid. A document that
// cannot be parsed gives its parse problems with their lines (one syntax
// error, or one for each key written twice), and nothing more. An
// empty YAML or TOML document is an empty mapping, as for the loader.
func (v *Validator) Validate(name string, data []byte) ([]Problem, error) {
	parsed, err := config.ParseDocument(name, data)
	if err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			return nil, err
		}
		var out []Problem
		for _, p := range ce.Problems {
			out = append(out, Problem{Key: p.Key, Line: p.Line, Column: p.Column, Message: p.Message})
		}
		return out, nil
	}
	var problems []Problem
	doc := jsonValue(parsed.Values, nil, &problems)
	if err := v.schema.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, fmt.Errorf("schema: validate %s: %w", name, err)
		}
		unreadable := len(problems)
		for _, p := range leaves(ve) {
			// A value JSON cannot hold was replaced by 0: what the schema
			// says about that 0 is beside the point.
			if !slices.ContainsFunc(problems[:unreadable], func(u Problem) bool { return u.Pointer == p.Pointer }) {
				problems = append(problems, p)
			}
		}
	}
	for i := range problems {
		path := splitPointer(problems[i].Pointer)
		problems[i].Line, problems[i].Column = parsed.Position(path...)
		problems[i].Key = keyPath(doc, path)
	}
	slices.SortFunc(problems, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Pointer, b.Pointer), strings.Compare(a.Message, b.Message))
	})
	return slices.CompactFunc(problems, func(a, b Problem) bool {
		return a.Line == b.Line && a.Pointer == b.Pointer && a.Message == b.Message
	}), nil
}

// leaves flattens a validation error into one problem per failed keyword.
// The alternatives of a oneOf or anyOf that none matched become one
// problem that lists what each wanted.
func leaves(e *jsonschema.ValidationError) []Problem {
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		if len(e.Causes) > 0 {
			var wants []string
			for _, c := range e.Causes {
				for _, l := range leaves(c) {
					wants = append(wants, l.Message)
				}
			}
			return []Problem{{Pointer: jsonPointer(e.InstanceLocation), Message: "matches none of the accepted forms: " + strings.Join(wants, "; or ")}}
		}
	}
	if ap, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		// One problem per unknown key, placed on the key itself.
		var out []Problem
		for _, name := range ap.Properties {
			out = append(out, Problem{Pointer: jsonPointer(append(slices.Clone(e.InstanceLocation), name)), Message: "is not allowed here: the schema has no such key"})
		}
		return out
	}
	if rq, ok := e.ErrorKind.(*kind.Required); ok {
		// One problem per missing key, placed on the key (and so on the
		// line of its closest ancestor the document writes).
		var out []Problem
		for _, name := range rq.Missing {
			out = append(out, Problem{Pointer: jsonPointer(append(slices.Clone(e.InstanceLocation), name)), Message: "is required, and the document does not write it"})
		}
		return out
	}
	if len(e.Causes) == 0 {
		p := Problem{Pointer: jsonPointer(e.InstanceLocation), Message: message(e)}
		if en, ok := e.ErrorKind.(*kind.Enum); ok {
			p.Enum, p.Value = en.Want, en.Got
		}
		return []Problem{p}
	}
	var out []Problem
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// message words one failed keyword, in English.
func message(e *jsonschema.ValidationError) string {
	out := e.BasicOutput()
	if out.Error != nil {
		return out.Error.String()
	}
	return "is not valid"
}

// splitPointer splits a JSON pointer into its unescaped tokens.
func splitPointer(p string) []string {
	if p == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(s)
	}
	return parts
}
