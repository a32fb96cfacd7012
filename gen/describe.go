package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gracekit/gracekit/config"
)

// keyInfo is what the reference and the default file need to know about a
// key, from config.Keys: gen reads gracekit's keys itself, and a user's
// keys as JSON written by the test it runs in the user's package.
type keyInfo struct {
	Path   string
	Env    string
	Kind   string
	Value  any    // as a configuration file writes it; numbers as json.Number
	Owner  string // the Go struct and field, for messages
	Pkg    string // the import path of the struct's package
	Secret bool   // a secret, whose value is never shown
	// Required is true for a key a configuration must set.
	Required bool
}

// keyInfos turns config.Keys into keyInfos, through JSON as for a user's
// type, so that both come out the same.
func keyInfos(keys []config.Key) ([]keyInfo, error) {
	out := make([]keyInfo, len(keys))
	for i, k := range keys {
		out[i] = keyInfo{Path: k.Path, Env: k.Env, Kind: k.Kind, Value: k.Value, Owner: k.Struct.String() + "." + k.Field, Pkg: k.Struct.PkgPath(), Secret: k.Secret, Required: k.Required}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return decodeKeys(data)
}

// decodeKeys reads keyInfos written as JSON.
func decodeKeys(data []byte) ([]keyInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []keyInfo
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("read the keys: %w", err)
	}
	return out, nil
}

// entry is one key of the configuration with what the schema says about
// it, for the reference and the default file.
type entry struct {
	keyInfo
	Description string
	Enum        []string
}

// describe pairs each key with its description and enum from the
// generated schema, so that the reference and the default file say what
// the schema says.
func describe(schemaJSON []byte, keys []keyInfo) ([]entry, error) {
	var root map[string]any
	if err := json.Unmarshal(schemaJSON, &root); err != nil {
		return nil, fmt.Errorf("read the generated schema: %w", err)
	}
	out := make([]entry, 0, len(keys))
	for _, k := range keys {
		node := root
		for key := range strings.SplitSeq(k.Path, ".") {
			props, _ := node["properties"].(map[string]any)
			next, ok := props[key].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("the schema has no property %s", k.Path)
			}
			node = next
		}
		e := entry{keyInfo: k}
		e.Description, _ = node["description"].(string)
		if e.Description == "" {
			return nil, fmt.Errorf("the schema has no description for %s: write a doc comment on %s", k.Path, k.Owner)
		}
		if enum, ok := node["enum"].([]any); ok {
			for _, v := range enum {
				e.Enum = append(e.Enum, fmt.Sprint(v))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// yamlValue writes a default value as YAML: strings double-quoted (but
// durations, which read better bare), numbers and booleans as they are,
// lists in flow style.
func yamlValue(e entry) string {
	switch v := e.Value.(type) {
	case string:
		if e.Kind == "duration" {
			return v
		}
		b, _ := json.Marshal(v)
		return string(b)
	case []any:
		items := make([]string, len(v))
		for i, x := range v {
			b, _ := json.Marshal(x)
			items[i] = string(b)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(e.Value)
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for w := range strings.FieldsSeq(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
