package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/gracekit/gracekit/config"
)

// Options describe the schema Generate writes.
type Options struct {
	// ID is the schema's $id, a URL that names it.
	ID string
	// Title and Description describe the whole configuration file.
	Title       string
	Description string
	// Comments maps "importPath.Type.Field" to the doc comment of each
	// field, as [GoComments] reads them: they become the descriptions.
	Comments map[string]string
}

// Generate returns the JSON Schema (draft 2020-12) of the configuration
// type of cfg, a struct or a pointer to one, read the way [config.Load]
// reads it: keys from koanf tags, embedded structs squashed, no other key
// allowed, and no key required but those tagged jsonschema:"required"
// (see config.RequiredTag), with the sections above them. The values in cfg are the defaults
// the schema states, but for secrets (see config.SecretTag), which get
// writeOnly and no default. Sizes accept a non-negative whole number,
// durations only the number 0, and both a string matching the loader's own
// patterns; the gracekit sections get their
// enums, patterns and the rules that tie certFile, keyFile and
// httpsAddress together. The output is indented JSON ending in a newline,
// the same bytes for the same input.
func Generate(cfg any, opts Options) ([]byte, error) {
	keys, err := config.Keys(cfg, config.DefaultEnvPrefix)
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{
		FieldNameTag:               "koanf",
		RequiredFromJSONSchemaTags: true,
		DoNotReference:             true,
		ExpandedStruct:             true,
		Anonymous:                  true,
		Mapper:                     mapType,
	}
	s := r.Reflect(cfg)
	s.ID = jsonschema.ID(opts.ID)
	s.Title = opts.Title
	s.Description = clean(opts.Description)
	if t := reflect.Indirect(reflect.ValueOf(cfg)).Type(); s.Description == "" {
		s.Description = clean(opts.Comments[t.PkgPath()+"."+t.Name()])
	}
	s.Definitions = nil
	for _, k := range keys {
		prop := property(s, k.Path)
		if prop == nil {
			return nil, fmt.Errorf("schema: the reflected schema has no property %s", k.Path)
		}
		if c := opts.Comments[k.Struct.PkgPath()+"."+k.Struct.Name()+"."+k.Field]; c != "" {
			prop.Description = clean(c)
		} else {
			prop.Description = clean(prop.Description)
		}
		if k.Kind != "section" {
			prop.Default = k.Value
		}
		if k.Secret {
			// A secret's value is never shown, not even its default;
			// writeOnly tells editors the same.
			prop.WriteOnly = true
		}
		if extra := fieldExtra(k.Struct.Name() + "." + k.Field); extra != nil && k.Struct.PkgPath() == configPkg {
			extra(prop)
		}
		if k.Kind == "section" && k.Type == reflect.TypeFor[config.Server]() {
			serverRules(prop)
		}
		if k.Required {
			requireSections(s, k.Path)
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("schema: encode: %w", err)
	}
	return b.Bytes(), nil
}

// requireSections makes the sections above a required key required in
// theirs, as the loader wants the key whatever the file holds: invopop
// lists the key itself in its section's "required".
func requireSections(s *jsonschema.Schema, path string) {
	keys := strings.Split(path, ".")
	for i := range len(keys) - 1 {
		parent := s
		if i > 0 {
			parent = property(s, strings.Join(keys[:i], "."))
		}
		if !slices.Contains(parent.Required, keys[i]) {
			parent.Required = append(parent.Required, keys[i])
		}
	}
}

// property returns the schema of the property at a dotted key path.
func property(s *jsonschema.Schema, path string) *jsonschema.Schema {
	for key := range strings.SplitSeq(path, ".") {
		if s == nil || s.Properties == nil {
			return nil
		}
		next, ok := s.Properties.Get(key)
		if !ok {
			return nil
		}
		s = next
	}
	return s
}

var spaces = regexp.MustCompile(`\s+`)

// clean turns a Go doc comment into a one-paragraph description.
func clean(s string) string { return strings.TrimSpace(spaces.ReplaceAllString(s, " ")) }

var (
	sizeType     = reflect.TypeFor[config.Size]()
	durationType = reflect.TypeFor[config.Duration]()
	stdDuration  = reflect.TypeFor[time.Duration]()
	textType     = reflect.TypeFor[interface{ UnmarshalText([]byte) error }]()
	configPkg    = reflect.TypeFor[config.Config]().PkgPath()
)

// mapType gives the schema of the types the loader reads specially:
// sizes, durations, types with UnmarshalText (strings), and integers with
// the range of their Go type. It returns a fresh schema on every call, as
// invopop requires, or nil for the reflector's own handling.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == sizeType:
		return &jsonschema.Schema{
			OneOf: []*jsonschema.Schema{
				{Type: "integer", Minimum: "0"},
				{Type: "string", Pattern: config.SizePattern},
			},
			Examples: []any{10240, "10KiB", "1m", "1MiB"},
		}
	case t == durationType || t == stdDuration:
		return &jsonschema.Schema{
			OneOf: []*jsonschema.Schema{
				{Type: "integer", Const: 0},
				{Type: "string", Pattern: config.DurationPattern},
			},
			Examples: []any{"30s", "1m30s", "250ms", 0},
		}
	case reflect.PointerTo(t).Implements(textType):
		return &jsonschema.Schema{Type: "string"}
	}
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32:
		lo := int64(-1) << (t.Bits() - 1)
		return &jsonschema.Schema{Type: "integer", Minimum: json.Number(fmt.Sprint(lo)), Maximum: json.Number(fmt.Sprint(-(lo + 1)))}
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return &jsonschema.Schema{Type: "integer", Minimum: "0", Maximum: json.Number(fmt.Sprint(uint64(1)<<t.Bits() - 1))}
	case reflect.Uint, reflect.Uint64:
		return &jsonschema.Schema{Type: "integer", Minimum: "0"}
	}
	return nil
}
