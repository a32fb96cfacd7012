package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

// runValidate checks configuration files. A file is checked against the
// schema given with -schema; else against the schema its first lines name
// (YAML: "# yaml-language-server: $schema=PATH", TOML: "#:schema PATH",
// PATH relative to the file); else, or when that schema is gracekit's,
// against gracekit's schema and the loader's rules.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemaPath := fs.String("schema", "", "JSON Schema `file` to check every file against, instead of the schema each names or gracekit's")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		fmt.Fprintf(stderr, "gen validate: no files to check\n%s", usage)
		return exitUsage
	}
	for _, f := range files {
		if config.FormatOf(f) == "" {
			fmt.Fprintf(stderr, "gen validate: %s: unknown format: name configuration files .yaml, .yml, .json or .toml\n", f)
			return exitUsage
		}
	}
	checkers := newCheckers()
	if *schemaPath != "" {
		if _, err := checkers.forSchema(*schemaPath); err != nil {
			fmt.Fprintf(stderr, "gen validate: %v\n", err)
			return exitUsage
		}
	}
	code := exitOK
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stdout, "%s: cannot read: %v\n", f, errors.Unwrap(err))
			code = exitInvalid
			continue
		}
		ref := *schemaPath
		if ref == "" {
			ref = schemaRef(data)
			if ref != "" && !isURL(ref) {
				ref = filepath.Join(filepath.Dir(f), ref)
			}
		}
		check, err := checkers.forSchema(ref)
		if err != nil {
			fmt.Fprintf(stderr, "gen validate: %s: %v\n", f, err)
			return exitUsage
		}
		found, err := check(f, data)
		if err != nil {
			fmt.Fprintf(stderr, "gen validate: %s: %v\n", f, err)
			return exitInvalid
		}
		for _, p := range found {
			fmt.Fprintln(stdout, p.format(f))
			code = exitInvalid
		}
	}
	return code
}

// checker checks one configuration file.
type checker func(name string, data []byte) ([]finding, error)

// checkers compiles each schema once.
type checkers map[string]checker

func newCheckers() checkers { return checkers{"": checkGracekit, schema.ID: checkGracekit} }

// forSchema returns the checker for a schema: gracekit's for "" and for
// gracekit's $id (or a file whose $id it is), else one for the schema file
// at ref.
func (cs checkers) forSchema(ref string) (checker, error) {
	if c, ok := cs[ref]; ok {
		return c, nil
	}
	if isURL(ref) {
		return nil, fmt.Errorf("the schema %s is not a local file: gen validate does not fetch schemas; give it with -schema FILE", ref)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	var head struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s is not JSON: %w", ref, err)
	}
	if head.ID == schema.ID {
		cs[ref] = checkGracekit
		return checkGracekit, nil
	}
	v, err := schema.NewValidator(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	c := func(name string, data []byte) ([]finding, error) { return checkSchema(v, name, data) }
	cs[ref] = c
	return c, nil
}

// schemaRef returns the schema a configuration file names in its first
// comment lines, as the YAML language server ("# yaml-language-server:
// $schema=REF") and Taplo for TOML ("#:schema REF") read them, or "".
func schemaRef(data []byte) string {
	for i, line := range strings.SplitN(string(data), "\n", 10) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			if line == "" && i < 9 {
				continue
			}
			break
		}
		if ref, ok := strings.CutPrefix(line, "#:schema "); ok {
			return strings.TrimSpace(ref)
		}
		body := strings.TrimSpace(strings.TrimPrefix(line, "#"))
		if rest, ok := strings.CutPrefix(body, "yaml-language-server:"); ok {
			if ref, ok := strings.CutPrefix(strings.TrimSpace(rest), "$schema="); ok {
				return strings.TrimSpace(ref)
			}
		}
	}
	return ""
}

func isURL(ref string) bool { return strings.Contains(ref, "://") }

// finding is one problem of a file, as gen validate prints it.
type finding struct {
	line    int
	key     string
	message string
}

// format writes "FILE:LINE: key.path: message", leaving out what is
// unknown.
func (p finding) format(file string) string {
	var b strings.Builder
	b.WriteString(file)
	if p.line > 0 {
		b.WriteString(":" + strconv.Itoa(p.line))
	}
	b.WriteString(": ")
	if p.key != "" {
		b.WriteString(p.key + ": ")
	}
	b.WriteString(p.message)
	return b.String()
}

// checkSchema checks a document against a schema.
func checkSchema(v *schema.Validator, name string, data []byte) ([]finding, error) {
	ps, err := v.Validate(name, data)
	if err != nil {
		return nil, err
	}
	out := make([]finding, len(ps))
	for i, p := range ps {
		out[i] = finding{p.Line, p.Key, p.Message}
	}
	return out, nil
}

// checkGracekit checks a gracekit configuration file with the loader,
// whose messages say how to fix each problem, and with the schema. Schema
// problems about a key the loader already reported are left out; any
// other schema problem is printed too (the loader and the schema are
// meant to agree, so that would be a bug worth seeing).
func checkGracekit(name string, data []byte) ([]finding, error) {
	var out []finding
	cfg := config.Default()
	if err := config.Load(&cfg, config.WithFiles(name), config.WithoutEnv()); err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			return nil, err
		}
		for _, p := range ce.Problems {
			out = append(out, finding{p.Line, p.Key, p.Message})
		}
	}
	loaderFound := len(out) > 0
	ps, err := schema.Validate(name, data)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if loaderFound && covered(out, p.Key) {
			continue
		}
		out = append(out, finding{p.Line, p.Key, p.Message + " (JSON Schema)"})
	}
	slices.SortStableFunc(out, func(a, b finding) int { return a.line - b.line })
	return out, nil
}

// covered reports whether a problem was found at key, around it, or for
// the whole file.
func covered(found []finding, key string) bool {
	for _, f := range found {
		if f.key == "" || f.key == key || strings.HasPrefix(key, f.key+".") || strings.HasPrefix(f.key, key+".") || strings.HasPrefix(key, f.key+"[") {
			return true
		}
	}
	return false
}
