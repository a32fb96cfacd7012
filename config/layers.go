package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	kjson "github.com/knadh/koanf/parsers/json"
	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	gotoml "github.com/pelletier/go-toml/v2"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/gracekit/gracekit/internal/docpos"
	"github.com/gracekit/gracekit/internal/suggest"
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
func fileLayer(path string, lim limits, ps *problems) (*layer, []byte) {
	format := FormatOf(path)
	if format == "" {
		ps.add(Problem{Source: path, Message: "unknown file format: name the file .yaml, .yml, .json or .toml"})
		return nil, nil
	}
	data, size, err := readLimited(path, lim.fileSize, lim.wait)
	if errors.Is(err, errTooLarge) {
		ps.add(Problem{Source: path, Message: tooLarge(size, lim.fileSize)})
		return nil, nil
	}
	if err != nil {
		ps.add(Problem{Source: path, Message: fmt.Sprintf("cannot read the file: %v", err)})
		ps.causes = append(ps.causes, err)
		return nil, nil
	}
	return parseLayer(path, format, data, lim, ps), data
}

// parser returns the koanf parser of JSON or TOML; YAML has a decoder of
// its own (yamldoc.go).
func parser(format string) koanf.Parser {
	if format == "toml" {
		return toml.Parser()
	}
	return kjson.Parser()
}

// Document is a configuration file parsed as [Load] parses it.
type Document struct {
	// Values holds the document's keys and values as nested maps (with
	// string keys, but for YAML mappings inside the document whose keys
	// are not all strings: map[any]any), the values as the format's parser
	// gives them.
	Values map[string]any

	lines docpos.Lines
}

// Position returns where the key at path is written: its 1-based line and
// column, or those of its closest ancestor that is known, or 0, 0. The
// items of a list are written as their index, such as "2".
func (d *Document) Position(path ...string) (line, column int) {
	p := d.lines.Pos(path...)
	return p.Line, p.Column
}

// ParseDocument parses the bytes of a configuration file the way [Load]
// does, the format coming from name's extension (see [FormatOf]). An
// empty YAML or TOML document gives an empty mapping. It returns an
// *[Error] with the problems (and their lines) when data is not a
// configuration document: a syntax error, a key written twice (in JSON
// too, where parsers keep the last), a list or a
// single value instead of a mapping, JSON null, an unknown extension, or a
// document beyond the limits ([MaxFileSize], [MaxDepth], [MaxKeys],
// [MaxAliasValues]). It checks no key or value: that is Load's job.
func ParseDocument(name string, data []byte) (*Document, error) {
	var ps problems
	// A JSON document with a key written twice parses (parseDocument
	// keeps it, for Load to go on checking it), but Load refuses it: so
	// does ParseDocument.
	if d, ok := parseDocument(name, FormatOf(name), data, defaultLimits(), &ps); ok && len(ps.list) == 0 {
		return d, nil
	}
	return nil, ps.err()
}

// parseDocument parses and measures a document. It reports problems and
// returns false when the document cannot be used; duplicate JSON keys are
// problems, but the document (which keeps the last one) is still used.
func parseDocument(name, format string, data []byte, lim limits, ps *problems) (*Document, bool) {
	fail := func(p docpos.Pos, msg string) (*Document, bool) {
		ps.add(Problem{Source: name, Line: p.Line, Column: p.Column, Message: msg})
		return nil, false
	}
	if format == "" {
		return fail(docpos.Pos{}, "unknown file format: name the file .yaml, .yml, .json or .toml")
	}
	if len(data) > lim.fileSize {
		return fail(docpos.Pos{}, tooLarge(int64(len(data)), lim.fileSize))
	}
	if format != "yaml" {
		// A byte order mark before JSON or TOML, as some editors write
		// one (YAML's parser takes it already).
		data = bytes.TrimPrefix(data, []byte("\ufeff"))
	}
	if pos, msg := notText(data); msg != "" && !(format == "yaml" && utf16BOM(data)) {
		return fail(pos, msg)
	}
	var d Document
	var m map[string]any
	switch format {
	case "yaml":
		var node yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&node); err != nil && !errors.Is(err, io.EOF) {
			return fail(explainYAML(data, err))
		}
		if node.Kind != 0 {
			var next yaml.Node
			if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
				if err != nil {
					// Not a second document: text follows the end of
					// the first value, a flow mapping's "}" say.
					pos, _ := explainYAML(data, err)
					return fail(pos, "not valid YAML: text follows the end of the document's value (a { } or [ ] written on one line ends it): write the file as one mapping of keys, one per line, or put all of them inside the braces")
				}
				line := next.Line
				if line == 0 {
					line = scanYAML(data).secondDoc
				}
				return fail(docpos.Pos{Line: line, Column: 1}, `not valid YAML: a second document starts here with "---": a configuration file holds one document; remove the line, or make each document a file of its own`)
			}
		}
		d.lines = docpos.YAMLNode(&node, lim.doc)
		if e := d.lines.Exceeded(); e != nil {
			return fail(e.Pos, exceeded(e, format))
		}
		if dups := d.lines.Duplicates(); len(dups) > 0 {
			// yaml.v3 refuses such a document: so does the loader.
			for _, dup := range dups {
				ps.add(Problem{Key: displayKey(indexPath(dup.Path)), Source: name, Line: dup.Again[0].Line, Column: dup.Again[0].Column, Message: duplicateMessage(dup, format)})
			}
			return nil, false
		}
		var err error
		if m, err = decodeYAMLDocument(&node, lim); err != nil {
			var ye *yamlError
			if errors.As(err, &ye) {
				return fail(docpos.Pos{Line: ye.line}, ye.msg)
			}
			return fail(docpos.Pos{}, "not valid YAML: "+err.Error())
		}
	default:
		d.lines = docpos.Of(format, data, lim.doc)
		if e := d.lines.Exceeded(); e != nil {
			return fail(e.Pos, exceeded(e, format))
		}
		var err error
		if m, err = parser(format).Unmarshal(data); err != nil {
			line, col, msg := syntaxError(format, data, err)
			return fail(docpos.Pos{Line: line, Column: col}, msg)
		}
		if m == nil && format == "json" {
			return fail(docpos.Pos{Line: 1, Column: 1}, "the file holds null: a JSON configuration file holds an object, such as {\"server\": {}}")
		}
		for _, dup := range d.lines.Duplicates() {
			ps.add(Problem{Key: displayKey(indexPath(dup.Path)), Source: name, Line: dup.Again[0].Line, Column: dup.Again[0].Column, Message: duplicateMessage(dup, format)})
		}
	}
	if m == nil {
		m = map[string]any{}
	}
	d.Values = m
	return &d, true
}

// parseLayer parses the bytes of a configuration file named name.
func parseLayer(name, format string, data []byte, lim limits, ps *problems) *layer {
	d, ok := parseDocument(name, format, data, lim, ps)
	if !ok {
		return nil
	}
	return &layer{
		name:     name,
		data:     d.Values,
		document: true,
		format:   format,
		where: func(path []string) (string, docpos.Pos) {
			return name, d.lines.Pos(docPath(path)...)
		},
	}
}

var yamlLineRE = lazyRegexp(`line (\d+): `)

// yamlMessage takes the line out of a yaml.v3 message.
func yamlMessage(msg string) (int, string) {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	line := 0
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.Replace(msg, m[0], "", 1)
	}
	return line, msg
}

// syntaxError turns a JSON or TOML parser's error into a line, a column
// and a message for users.
func syntaxError(format string, data []byte, err error) (int, int, string) {
	if format == "json" {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := lineAt(data, se.Offset)
			return line, col, "not valid JSON: " + se.Error()
		case errors.As(err, &te) && te.Type != nil && te.Type.Kind() == reflect.Float64:
			// A number too large for any setting (1e400), anywhere.
			line, col := lineAt(data, te.Offset)
			return line, col, "not valid JSON here: the " + te.Value + " is beyond the range of any number (about 1.8e308): write a number that fits the setting"
		case errors.As(err, &te):
			return 1, 1, "the file holds a JSON " + te.Value + ": a JSON configuration file holds an object, such as {\"server\": {}}"
		}
		return 0, 0, "not valid JSON: " + err.Error()
	}
	var de *gotoml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		if errors.Is(err, strconv.ErrRange) || strings.Contains(de.Error(), "out of range") {
			return row, col, "not valid TOML here: the number is beyond the range of any number of its kind (a whole number up to 9223372036854775807, a fraction up to about 1.8e308): write a number that fits the setting"
		}
		return row, col, "not valid TOML: " + de.Error()
	}
	return 0, 0, "not valid TOML: " + err.Error()
}

// lineAt returns the 1-based line and column of a byte offset.
func lineAt(data []byte, off int64) (int, int) {
	off = min(max(off, 0), int64(len(data)))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return bytes.Count(data[:off], []byte("\n")) + 1, int(off) - start + 1
}

// envLayer reads the environment variables that start with prefix. Names
// that start with the prefix but set nothing are problems (a typo would
// otherwise be ignored), unless the prefix is empty, or unless they are
// the variables Kubernetes injects for a Service (see servicelink.go),
// which are returned in ignored.
//
// A variable named after a key's variable with _FILE appended names a file
// that holds the value (a secret mounted by Docker or Kubernetes, say): the
// file is read, one trailing newline removed.
func envLayer(model *node, prefix string, environ []string, lim limits, ps *problems) (l *layer, ignored []string, err error) {
	names, err := envNames(model, prefix)
	if err != nil {
		return nil, nil, err
	}
	set := map[string]bool{}
	for _, kv := range environ {
		if k, _, ok := strings.Cut(kv, "="); ok {
			set[k] = true
		}
	}
	byPath := map[string]string{}
	valueFiles := map[string]string{}
	hints := map[string]string{}
	var unknown []string
	p := env.Provider(".", env.Opt{
		Prefix:      prefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			path, ok := names[k]
			if ok {
				key := strings.Join(path, ".")
				byPath[key] = k
				if service, ok := serviceLink(k, v); ok {
					hints[key] = fmt.Sprintf("%s is also a variable Kubernetes sets for a Service named %s: a value set in the pod's env wins over it; or set enableServiceLinks: false in the pod", k, strings.ReplaceAll(strings.ToLower(service), "_", "-"))
				}
				return key, v
			}
			base, isFile := strings.CutSuffix(k, fileSuffix)
			if path, ok = names[base]; !isFile || !ok {
				if _, link := serviceLink(k, v); link || slices.Contains(toolVariables, k) {
					ignored = append(ignored, k)
				} else {
					unknown = append(unknown, k)
				}
				return "", nil
			}
			key := displayKey(path)
			fail := func(msg string) (string, any) {
				ps.add(Problem{Key: key, Source: "env " + k, Message: msg})
				return "", nil
			}
			switch {
			case set[base]:
				return fail(fmt.Sprintf("both %s and %s are set: set the value, or the file that holds it, not both", base, k))
			case v == "":
				return fail(fmt.Sprintf("the variable is empty: it names the file that holds the value of %s, such as /run/secrets/%s", key, strings.ToLower(strings.TrimPrefix(base, prefix))))
			}
			data, size, err := readLimited(v, lim.fileSize, lim.wait)
			if errors.Is(err, errTooLarge) {
				return fail(fmt.Sprintf("%s: %s", v, tooLarge(size, lim.fileSize)))
			}
			if err != nil {
				ps.causes = append(ps.causes, err)
				return fail(fmt.Sprintf("cannot read the file that holds the value of %s: %v", key, err))
			}
			byPath[key] = k
			valueFiles[key] = v
			return key, trimNewline(string(data))
		},
	})
	m, err := p.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("config: read the environment: %w", err)
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
			if s := suggest.Closest(strings.TrimPrefix(name, prefix), suffixes); s != "" {
				msg += fmt.Sprintf(": did you mean %s (%s)?", prefix+s, strings.Join(names[prefix+s], "."))
			} else {
				msg += fmt.Sprintf(": the variables are named %s and the key path in upper case with underscores, such as %s", prefix, envName(prefix, []string{"server", "maxHeaderBytes"}))
			}
			ps.add(Problem{Source: "env " + name, Message: msg})
		}
	}
	slices.Sort(ignored)
	return &layer{
		name:       "environment",
		data:       m,
		textual:    true,
		valueFiles: valueFiles,
		hints:      hints,
		where: func(path []string) (string, docpos.Pos) {
			return "env " + byPath[leafKey(path)], docpos.Pos{}
		},
	}, ignored, nil
}

// fileSuffix ends the name of a variable that names the file holding a
// key's value.
const fileSuffix = "_FILE"

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
func flagLayer(model *node, fs *pflag.FlagSet, dash, envPrefix string, ps *problems) (*layer, error) {
	byPath := map[string]string{}
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		n := findLeaf(model, f.Name)
		if !f.Changed || n == nil || n.kind == kindSection {
			return "", nil
		}
		if n.secret {
			env := envName(envPrefix, n.path)
			ps.add(Problem{Key: f.Name, Source: "flag " + dash + f.Name, Message: fmt.Sprintf("%s is a secret, and every user of the machine can read a command line (ps): set %s to the path of a file that holds it, or %s", f.Name, env+fileSuffix, env)})
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
		where: func(path []string) (string, docpos.Pos) {
			return "flag " + dash + byPath[leafKey(path)], docpos.Pos{}
		},
	}, nil
}

// flagValue returns a flag's value: typed for pflag's plain types, as text
// for the others, which the converter parses like an environment variable.
func flagValue(fs *pflag.FlagSet, f *pflag.Flag) any {
	if kf, ok := f.Value.(*keyFlag); ok {
		return kf.text // registered by AddFlags
	}
	switch f.Value.Type() {
	case "bool", "string", "duration", "stringSlice", "stringArray",
		"int", "int8", "int16", "int32", "int64",
		"uint", "uint8", "uint16", "uint32", "uint64",
		"float32", "float64", "intSlice", "int64Slice", "uintSlice", "float64Slice", "durationSlice", "boolSlice":
		return posflag.FlagVal(fs, f)
	}
	return f.Value.String()
}

// notText finds the first NUL byte, or byte that is not UTF-8, in data,
// and says where it is: the parsers refuse either, without a line.
func notText(data []byte) (docpos.Pos, string) {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == 0:
			line, col := lineAt(data, int64(i))
			return docpos.Pos{Line: line, Column: col}, fmt.Sprintf("the file holds a NUL byte at line %d, column %d: a configuration file is text", line, col)
		case r == utf8.RuneError && n == 1:
			line, col := lineAt(data, int64(i))
			return docpos.Pos{Line: line, Column: col}, fmt.Sprintf("the file holds a byte that is not UTF-8 (%#x) at line %d, column %d: save the file as UTF-8", data[i], line, col)
		}
		i += n
	}
	return docpos.Pos{}, ""
}

// utf16BOM reports whether data starts with a UTF-16 byte order mark,
// which YAML's parser reads (its text then holds NUL bytes).
func utf16BOM(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0xff, 0xfe}) || bytes.HasPrefix(data, []byte{0xfe, 0xff})
}
