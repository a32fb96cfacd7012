package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// kind is how the loader reads a setting.
type kind int

const (
	kindSection  kind = iota // a struct: a mapping of keys
	kindString               // a string
	kindBool                 // true or false
	kindInt                  // a whole number, signed
	kindUint                 // a whole number, 0 or more
	kindFloat                // any number
	kindSize                 // a Size
	kindDuration             // a Duration or time.Duration
	kindText                 // a type with UnmarshalText, written as a string
	kindList                 // a list of one of the kinds above, but sections
)

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
	stdDuration  = reflect.TypeFor[time.Duration]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// node is one key of a configuration type, with everything the loader
// needs to read it.
type node struct {
	kind kind
	typ  reflect.Type
	key  string   // the key in its parent, such as "maxHeaderBytes"
	path []string // the keys from the root, such as ["server", "maxHeaderBytes"]

	// owner is the struct type that declares the field, and field its Go
	// name; index leads from the parent section's value to the field
	// through squashed embedded structs.
	owner reflect.Type
	field string
	index []int

	children []*node // of a section, in declaration order
	elem     *node   // of a list

	// secret is set by the tag secret:"true": the value is never shown,
	// in problems, in Check and Describe, in the docs, and no flag sets
	// it (see SecretTag).
	secret bool
	// required is set by the tag jsonschema:"required": a source must
	// set the key; its default does not count (see RequiredTag).
	required bool
}

// dotted returns the key path joined with dots.
func (n *node) dotted() string { return strings.Join(n.path, ".") }

// child returns the child with exactly this key, or nil.
func (n *node) child(key string) *node {
	for _, c := range n.children {
		if c.key == key {
			return c
		}
	}
	return nil
}

// keys returns the keys of a section's children.
func (n *node) keys() []string {
	out := make([]string, len(n.children))
	for i, c := range n.children {
		out[i] = c.key
	}
	return out
}

// leaves calls fn for every setting under n that is not a section.
func (n *node) leaves(fn func(*node)) {
	for _, c := range n.children {
		if c.kind == kindSection {
			c.leaves(fn)
		} else {
			fn(c)
		}
	}
}

// sections calls fn for n and every section under it.
func (n *node) sections(fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		if c.kind == kindSection {
			c.sections(fn)
		}
	}
}

// buildModel describes the settings of the struct type t, following the
// rules mapstructure and the JSON Schema generator share: the koanf tag
// names a key (the Go field name otherwise), "-" skips a field, and an
// embedded struct without a key name is squashed into its parent.
func buildModel(t reflect.Type) (*node, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: %s is not a struct", t)
	}
	root := &node{kind: kindSection, typ: t, owner: t}
	if err := addFields(root, t, nil); err != nil {
		return nil, err
	}
	return root, nil
}

// addFields adds the fields of struct type t to section sec; index leads
// from sec's value to t's value.
func addFields(sec *node, t reflect.Type, index []int) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		idx := append(append([]int(nil), index...), i)
		squash := hasOpt(opts, "squash")
		if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
			if !f.IsExported() {
				return fmt.Errorf("config: %s embeds the unexported %s: embed an exported type", t, f.Type)
			}
			if err := addFields(sec, f.Type, idx); err != nil {
				return err
			}
			continue
		}
		if squash {
			return fmt.Errorf("config: field %s.%s: ,squash works on embedded structs only; embed %s without a field name", t, f.Name, f.Type)
		}
		if f.Anonymous && name != "" {
			return fmt.Errorf("config: embedded field %s.%s has the key name %q: an embedded struct is squashed into its parent; make it a named field to give it a key", t, f.Name, name)
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.ContainsAny(name, ". ") {
			return fmt.Errorf("config: field %s.%s: key %q contains a dot or a space", t, f.Name, name)
		}
		if sec.child(name) != nil {
			return fmt.Errorf("config: %s has two settings named %q", sec.typ, name)
		}
		n := &node{
			typ:   f.Type,
			key:   name,
			path:  append(append([]string(nil), sec.path...), name),
			owner: t,
			field: f.Name,
			index: idx,
		}
		if err := classify(n); err != nil {
			return err
		}
		secret, err := boolTag(f, SecretTag)
		if err != nil {
			return err
		}
		n.secret = secret
		if n.secret && n.kind == kindSection {
			return fmt.Errorf("config: field %s.%s: %s:\"true\" marks a setting, not a section: mark the secret keys inside it", t, f.Name, SecretTag)
		}
		n.required = hasOpt(f.Tag.Get("jsonschema"), "required")
		if n.required && n.kind == kindSection {
			return fmt.Errorf("config: field %s.%s: %s marks a setting, not a section: mark the keys inside it that a configuration must set", t, f.Name, RequiredTag)
		}
		sec.children = append(sec.children, n)
	}
	return nil
}

// SecretTag is the struct tag that marks a setting as a secret, such as a
// password or an API token:
//
//	APIToken string `koanf:"apiToken" secret:"true"`
//
// Its value is never shown: [Check] and [Describe] write "(secret)", a
// problem about it names the key and the source but not the value, the
// generated schema and docs state no default, and [AddFlags] and
// [AddGoFlags] register no flag for it, as every user of the machine can
// read a command line (a flag named after it is refused by [WithFlags]).
// It is set from a file, from its environment variable, or from the file
// its _FILE variable names, as a Kubernetes or Docker secret is mounted.
const SecretTag = "secret"

// RequiredTag is the struct tag that marks a setting a configuration must
// set: a file, an environment variable (or its _FILE) or a flag has to
// give it a value, and the value in the defaults does not count:
//
//	URL string `koanf:"url" jsonschema:"required"`
//
// It is the tag invopop/jsonschema reads, so the generated schema lists
// the key (and the sections above it) in "required", and editors and
// "gen validate" ask for it as [Load] does. A file that writes the key
// with an empty value sets it: the rules of the program's [Validator]
// judge the value.
const RequiredTag = `jsonschema:"required"`

// boolTag reads a tag that is absent or "true".
func boolTag(f reflect.StructField, name string) (bool, error) {
	switch v, ok := f.Tag.Lookup(name); {
	case !ok:
		return false, nil
	case v == "true":
		return true, nil
	default:
		return false, fmt.Errorf("config: field %s: the tag %s:%q means nothing: write %s:\"true\", or leave the tag out", f.Name, name, v, name)
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// classify sets the kind of n from its type, and describes its children
// or elements.
func classify(n *node) error {
	t := n.typ
	switch {
	case t == sizeType:
		n.kind = kindSize
		return nil
	case t == durationType || t == stdDuration:
		n.kind = kindDuration
		return nil
	case reflect.PointerTo(t).Implements(textType):
		n.kind = kindText
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		n.kind = kindSection
		return addFields(n, t, nil)
	case reflect.String:
		n.kind = kindString
	case reflect.Bool:
		n.kind = kindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n.kind = kindInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n.kind = kindUint
	case reflect.Float32, reflect.Float64:
		n.kind = kindFloat
	case reflect.Slice:
		n.kind = kindList
		n.elem = &node{typ: t.Elem(), key: n.key, path: n.path, owner: n.owner, field: n.field}
		if err := classify(n.elem); err != nil {
			return err
		}
		if n.elem.kind == kindSection || n.elem.kind == kindList {
			return fmt.Errorf("config: field %s.%s: lists of %s are not supported; use a list of strings, numbers, sizes or durations", n.owner, n.field, t.Elem())
		}
	default:
		return fmt.Errorf("config: field %s.%s has type %s, which a configuration file cannot hold", n.owner, n.field, t)
	}
	return nil
}
