package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	kjson "github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"

	"github.com/gracekit/gracekit/internal/docpos"
)

// FormatOf returns the format of a configuration file from its extension:
// "yaml" for .yaml and .yml, "json" for .json, "toml" for .toml (in any
// case), or "" for anything else.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "yaml"
	case ".json":
		return "json"
	case ".toml":
		return "toml"
	}
	return ""
}

// fileLayer reads and parses a configuration file. It reports a problem
// and returns nil when the file cannot be read or parsed.
func fileLayer(path string, ps *problems) *layer {
	format := FormatOf(path)
	if format == "" {
		ps.add(Problem{Source: path, Message: "unknown file format: name the file .yaml, .yml, .json or .toml"})
		return nil
	}
	data, err := file.Provider(path).ReadBytes()
	if err != nil {
		ps.add(Problem{Source: path, Message: fmt.Sprintf("cannot read the file: %v", err)})
		return nil
	}
	return parseLayer(path, format, data, ps)
}

// parser returns the koanf parser of a format.
func parser(format string) koanf.Parser {
	switch format {
	case "json":
		return kjson.Parser()
	case "toml":
		return toml.Parser()
	}
	return yaml.Parser()
}

// ParseDocument parses the bytes of a configuration file the way [Load]
// does, the format coming from name's extension (see [FormatOf]), into a
// nested map. An empty YAML or TOML document gives an empty map. It
// returns an *[Error] with one problem (and the line of a syntax error)
// when data is not a configuration document: a syntax error, a list or a
// single value instead of a mapping, JSON null, or an unknown extension.
// It checks no key or value: that is Load's job.
func ParseDocument(name string, data []byte) (map[string]any, error) {
	var ps problems
	m, ok := parseDocument(name, FormatOf(name), data, &ps)
	if !ok {
		return nil, ps.err()
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

func parseDocument(name, format string, data []byte, ps *problems) (map[string]any, bool) {
	if format == "" {
		ps.add(Problem{Source: name, Message: "unknown file format: name the file .yaml, .yml, .json or .toml"})
		return nil, false
	}
	m, err := parser(format).Unmarshal(data)
	if err != nil {
		line, msg := syntaxError(format, data, err)
		ps.add(Problem{Source: name, Line: line, Message: msg})
		return nil, false
	}
	if m == nil && format == "json" {
		ps.add(Problem{Source: name, Line: 1, Message: "the file holds null: a JSON configuration file holds an object, such as {\"server\": {}}"})
		return nil, false
	}
	return m, true
}

// parseLayer parses the bytes of a configuration file named name.
func parseLayer(name, format string, data []byte, ps *problems) *layer {
	m, ok := parseDocument(name, format, data, ps)
	if !ok {
		return nil
	}
	lines := docpos.Of(format, data)
	for _, d := range lines.Duplicates() {
		ps.add(Problem{Key: displayKey(d.Path), Source: name, Line: d.Line,
			Message: fmt.Sprintf("the key %q is written twice in the same object: remove one", d.Path[len(d.Path)-1])})
	}
	return &layer{
		name:     name,
		data:     m,
		document: true,
		where: func(path []string) (string, int) {
			return name, lines.Line(docPath(path)...)
		},
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// syntaxError turns a parser's error into a line and a message for users.
func syntaxError(format string, data []byte, err error) (int, string) {
	switch format {
	case "json":
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return lineAt(data, se.Offset), "not valid JSON: " + se.Error()
		case errors.As(err, &te):
			return 1, "the file holds a JSON " + te.Value + ": a JSON configuration file holds an object, such as {\"server\": {}}"
		}
		return 0, "not valid JSON: " + err.Error()
	case "toml":
		var de *gotoml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return row, "not valid TOML: " + de.Error()
		}
		return 0, "not valid TOML: " + err.Error()
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.Replace(msg, m[0], "", 1)
	}
	if strings.Contains(msg, "cannot unmarshal") && strings.Contains(msg, "into map") {
		msg = "the file holds " + yamlKind(msg) + ": a YAML configuration file holds a mapping of keys, such as \"server:\""
	} else {
		msg = "not valid YAML: " + msg
	}
	return line, msg
}

// yamlKind names the YAML node kind in a "cannot unmarshal !!seq" error.
func yamlKind(msg string) string {
	switch {
	case strings.Contains(msg, "!!seq"):
		return "a list"
	case strings.Contains(msg, "!!str"):
		return "a string"
	}
	return "a single value"
}

// lineAt returns the 1-based line of a byte offset.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return strings.Count(string(data[:off]), "\n") + 1
}

// envLayer reads the environment variables that start with prefix. Names
// that start with the prefix but set nothing are problems (a typo would
// otherwise be ignored), unless the prefix is empty.
func envLayer(model *node, prefix string, environ []string, ps *problems) (*layer, error) {
	names, err := envNames(model, prefix)
	if err != nil {
		return nil, err
	}
	byPath := map[string]string{}
	var unknown []string
	p := env.Provider(".", env.Opt{
		Prefix:      prefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			path, ok := names[k]
			if !ok {
				unknown = append(unknown, k)
				return "", nil
			}
			key := strings.Join(path, ".")
			byPath[key] = k
			return key, v
		},
	})
	m, err := p.Read()
	if err != nil {
		return nil, fmt.Errorf("config: read the environment: %w", err)
	}
	if prefix != "" {
		all := make([]string, 0, len(names))
		for n := range names {
			all = append(all, n)
		}
		slices.Sort(all)
		suffixes := make([]string, len(all))
		for i, n := range all {
			suffixes[i] = strings.TrimPrefix(n, prefix)
		}
		for _, name := range unknown {
			msg := "no setting has this environment variable"
			if s := suggest(strings.TrimPrefix(name, prefix), suffixes); s != "" {
				msg += fmt.Sprintf(": did you mean %s (%s)?", prefix+s, strings.Join(names[prefix+s], "."))
			} else {
				msg += fmt.Sprintf(": the variables are named %s and the key path in upper case with underscores, such as %s", prefix, envName(prefix, []string{"server", "maxHeaderBytes"}))
			}
			ps.add(Problem{Source: "env " + name, Message: msg})
		}
	}
	return &layer{
		name:    "environment",
		data:    m,
		textual: true,
		where: func(path []string) (string, int) {
			return "env " + byPath[leafKey(path)], 0
		},
	}, nil
}

// leafKey returns the dotted path of the setting that path is in, without
// list indices.
func leafKey(path []string) string {
	var keys []string
	for _, p := range path {
		if !isIndex(p) {
			keys = append(keys, p)
		}
	}
	return strings.Join(keys, ".")
}

// flagLayer reads the flags of fs that were set on the command line and
// whose names are key paths, such as --server.address. Other flags belong
// to the program and are left alone.
func flagLayer(model *node, fs *pflag.FlagSet, dash string) (*layer, error) {
	byPath := map[string]string{}
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		n := findLeaf(model, f.Name)
		if !f.Changed || n == nil || n.kind == kindSection {
			return "", nil
		}
		byPath[f.Name] = f.Name
		return f.Name, flagValue(fs, f)
	})
	m, err := p.Read()
	if err != nil {
		return nil, fmt.Errorf("config: read the flags: %w", err)
	}
	return &layer{
		name:    "flags",
		data:    m,
		textual: true,
		where: func(path []string) (string, int) {
			return "flag " + dash + byPath[leafKey(path)], 0
		},
	}, nil
}

// flagValue returns a flag's value: typed for pflag's plain types, as text
// for the others, which the converter parses like an environment variable.
func flagValue(fs *pflag.FlagSet, f *pflag.Flag) any {
	switch f.Value.Type() {
	case "bool", "string", "duration", "stringSlice", "stringArray",
		"int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "intSlice", "int64Slice", "uintSlice", "float64Slice", "durationSlice", "boolSlice":
		return posflag.FlagVal(fs, f)
	}
	return f.Value.String()
}
