package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"

	"github.com/gracekit/gracekit/config"
)

// The loader checks a file against a Go type; gen validate has a JSON
// Schema. So that a user's keys get the loader's messages as gracekit's do
// (the file and line, the fix, "did you mean"), gen validate builds a Go
// type from the schema with reflect.StructOf: an object becomes a struct
// whose fields have koanf tags, a size or a duration (recognised by the
// loader's own patterns) becomes config.Size or config.Duration, an
// integer gets the Go type of its range. A section with exactly the keys of
// one of gracekit's (server, process, log) becomes that type, so that its
// rules apply too. The schema's defaults are loaded first, as the program's
// defaults would be.

// gracekitSection returns the section type of config.Config with a key,
// or nil.
func gracekitSection(key string) reflect.Type {
	switch key {
	case "server":
		return reflect.TypeFor[config.Server]()
	case "process":
		return reflect.TypeFor[config.Process]()
	case "log":
		return reflect.TypeFor[config.Log]()
	}
	return nil
}

// typeFromSchema returns the Go type the loader reads for an object
// schema, or an error saying what the schema holds that the loader cannot
// read. The fields come in the order of the schema's properties, which is
// the order of the Go type's fields, so that messages that list keys list
// them as the program does.
func typeFromSchema(s map[string]any, path string, order map[string][]string) (reflect.Type, error) {
	props, ok := s["properties"].(map[string]any)
	if !ok || s["type"] != "object" {
		return nil, fmt.Errorf("%s is not an object with properties", where(path))
	}
	var required []string
	if rs, ok := s["required"].([]any); ok {
		for _, r := range rs {
			if name, ok := r.(string); ok {
				required = append(required, name)
			}
		}
	}
	keys := order[path]
	if len(keys) != len(props) {
		keys = make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	fields := make([]reflect.StructField, 0, len(keys))
	for i, k := range keys {
		p, _ := props[k].(map[string]any)
		t, err := fieldType(p, join(path, k), order)
		if err != nil {
			return nil, err
		}
		if gt := gracekitSection(k); gt != nil && path == "" && sameKeys(p, gt) {
			t = gt
		}
		tag := `koanf:"` + k + `"`
		if slices.Contains(required, k) && t.Kind() != reflect.Struct {
			// A required key, as the type the schema was generated
			// from declares it (the sections above it are required
			// because of it).
			tag += ` ` + config.RequiredTag
		}
		if p["writeOnly"] == true {
			tag += ` ` + config.SecretTag + `:"true"`
		}
		fields = append(fields, reflect.StructField{
			Name: "F" + strconv.Itoa(i),
			Type: t,
			Tag:  reflect.StructTag(tag),
		})
	}
	return reflect.StructOf(fields), nil
}

// fieldType returns the Go type of one property.
func fieldType(p map[string]any, path string, order map[string][]string) (reflect.Type, error) {
	if p == nil {
		return nil, fmt.Errorf("%s has no schema", where(path))
	}
	if alts, ok := p["oneOf"].([]any); ok {
		for _, a := range alts {
			am, _ := a.(map[string]any)
			switch am["pattern"] {
			case config.SizePattern:
				return reflect.TypeFor[config.Size](), nil
			case config.DurationPattern:
				return reflect.TypeFor[config.Duration](), nil
			}
		}
		return nil, fmt.Errorf("%s has a oneOf the loader does not read", where(path))
	}
	switch p["type"] {
	case "object":
		return typeFromSchema(p, path, order)
	case "string":
		return reflect.TypeFor[string](), nil
	case "boolean":
		return reflect.TypeFor[bool](), nil
	case "number":
		return reflect.TypeFor[float64](), nil
	case "integer":
		return integerType(p), nil
	case "array":
		items, _ := p["items"].(map[string]any)
		t, err := fieldType(items, path+"[]", order)
		if err != nil {
			return nil, err
		}
		if t.Kind() == reflect.Struct || t.Kind() == reflect.Slice {
			return nil, fmt.Errorf("%s is a list of %s, which the loader does not read", where(path), t.Kind())
		}
		return reflect.SliceOf(t), nil
	}
	return nil, fmt.Errorf("%s has the type %v, which the loader does not read", where(path), p["type"])
}

// integerType picks the Go integer type of a schema's range, as the
// schema generator writes ranges for each.
func integerType(p map[string]any) reflect.Type {
	lo, hasLo := number(p["minimum"])
	hi, hasHi := number(p["maximum"])
	if hasLo && lo >= 0 {
		switch {
		case hasHi && hi <= math.MaxUint8:
			return reflect.TypeFor[uint8]()
		case hasHi && hi <= math.MaxUint16:
			return reflect.TypeFor[uint16]()
		case hasHi && hi <= math.MaxUint32:
			return reflect.TypeFor[uint32]()
		case !hasHi || hi > math.MaxInt64:
			return reflect.TypeFor[uint64]()
		}
	}
	if hasLo && hasHi {
		switch {
		case lo >= math.MinInt8 && hi <= math.MaxInt8:
			return reflect.TypeFor[int8]()
		case lo >= math.MinInt16 && hi <= math.MaxInt16:
			return reflect.TypeFor[int16]()
		case lo >= math.MinInt32 && hi <= math.MaxInt32:
			return reflect.TypeFor[int32]()
		}
	}
	return reflect.TypeFor[int64]()
}

func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// sameKeys reports whether an object schema has exactly the keys of the
// struct type t.
func sameKeys(p map[string]any, t reflect.Type) bool {
	props, _ := p["properties"].(map[string]any)
	keys, err := config.Keys(reflect.New(t).Interface(), "")
	if err != nil || len(keys) != len(props) {
		return false
	}
	for _, k := range keys {
		if _, ok := props[k.Path]; !ok {
			return false
		}
	}
	return true
}

// defaults returns the schema's default values as a nested map, the
// shape of a configuration file.
func defaults(s map[string]any) map[string]any {
	out := map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for k, v := range props {
		p, _ := v.(map[string]any)
		if p["type"] == "object" {
			if sub := defaults(p); len(sub) > 0 {
				out[k] = sub
			}
			continue
		}
		if d, ok := p["default"]; ok {
			out[k] = d
		}
	}
	return out
}

// schemaLoader checks files with the loader, against a type built from a
// schema.
type schemaLoader struct {
	typ      reflect.Type
	defaults []byte // the schema's defaults as a JSON configuration file
}

// newSchemaLoader builds the loader's type of a schema, or returns an
// error when the schema holds what the loader cannot read.
func newSchemaLoader(schemaJSON []byte) (*schemaLoader, error) {
	var s map[string]any
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		return nil, err
	}
	order, err := propertyOrder(schemaJSON)
	if err != nil {
		return nil, err
	}
	t, err := typeFromSchema(s, "", order)
	if err != nil {
		return nil, err
	}
	d, err := json.Marshal(defaults(s))
	if err != nil {
		return nil, err
	}
	return &schemaLoader{typ: t, defaults: d}, nil
}

// check loads the file at path over the schema's defaults, and returns
// the loader's problems.
func (l *schemaLoader) check(path string) ([]config.Problem, error) {
	v := reflect.New(l.typ)
	tmp, err := os.MkdirTemp("", "gracekit-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	defaultsFile := filepath.Join(tmp, "defaults.json")
	if err := os.WriteFile(defaultsFile, l.defaults, 0o600); err != nil {
		return nil, err
	}
	if err := config.LoadAny(v.Interface(), config.WithFiles(defaultsFile), config.WithoutEnv()); err != nil {
		return nil, fmt.Errorf("the schema's defaults are refused by the loader: %w", err)
	}
	return problemsOf(config.LoadAny(v.Interface(), config.WithFiles(path), config.WithoutEnv()))
}

// propertyOrder returns the keys of the "properties" of every object
// schema in a JSON Schema, in the order the file writes them, by the
// dotted path of the object ("" for the root). encoding/json forgets the
// order of a map's keys, so it reads the tokens.
func propertyOrder(data []byte) (map[string][]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	out := map[string][]string{}
	// value reads one value of the schema at path; props says that it is
	// the "properties" object of that schema.
	var value func(path string, props bool) error
	value = func(path string, props bool) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				switch {
				case props:
					out[path] = append(out[path], k)
					err = value(join(path, k), false)
				case k == "properties":
					err = value(path, true)
				default:
					// Schemas inside other keywords (allOf, if, items)
					// are not the object's own properties.
					err = value(path+"#"+k, false)
				}
				if err != nil {
					return err
				}
			}
		case json.Delim('['):
			for dec.More() {
				if err := value(path+"[]", false); err != nil {
					return err
				}
			}
		default:
			return nil
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	if err := value("", false); err != nil {
		return nil, fmt.Errorf("read the order of the schema's properties: %w", err)
	}
	return out, nil
}

func where(path string) string {
	if path == "" {
		return "the schema"
	}
	return "the property " + path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
