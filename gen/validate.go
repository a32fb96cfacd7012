package main

import (
	"cmp"
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
	"github.com/gracekit/gracekit/internal/suggest"
	"github.com/gracekit/gracekit/schema"
)

// runValidate checks configuration files. A file is checked against the
// schema given with -schema; else against the schema its first lines name
// (YAML: "# yaml-language-server: $schema=PATH", TOML: "#:schema PATH",
// PATH relative to the file); else, or when that schema is gracekit's,
// against gracekit's schema and the loader's rules. Either way the loader
// reads the file first, so that every problem it finds is worded as the
// loader words it.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemaPath := fs.String("schema", "", "JSON Schema `file` to check every file against, instead of the schema each names or gracekit's")
	format := fs.String("format", "text", "output `format`: text (FILE:LINE: key: message), json (one JSON object per problem and line) or github (workflow commands that annotate the files)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	print := printer(*format)
	if print == nil {
		fmt.Fprintf(stderr, "gen validate: unknown -format %q: use text, json or github\n", *format)
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
			print(stdout, f, finding{message: fmt.Sprintf("cannot read: %v", errors.Unwrap(err))})
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
		if ref == "" {
			hintSchema(found)
		}
		for _, p := range found {
			print(stdout, f, p)
			code = exitInvalid
		}
	}
	return code
}

// hintSchema tells, on the problems about unknown top-level keys of a file
// that names no schema, how to check it against the program's own.
func hintSchema(found []finding) {
	for i, p := range found {
		if p.key != "" && !strings.ContainsAny(p.key, ".[") && strings.HasPrefix(p.message, "unknown key") {
			found[i].message += "; this file names no schema, so it was checked as a gracekit configuration: " +
				"for a program's own configuration, give its schema with -schema FILE or name it on the file's first line " +
				"(# yaml-language-server: $schema=app.schema.json, or #:schema app.schema.json in TOML)"
		}
	}
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
	// A schema the loader cannot read as a Go type is checked by the
	// schema alone.
	loader, _ := newSchemaLoader(data)
	c := func(name string, data []byte) ([]finding, error) { return checkUser(loader, v, name, data) }
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
	line, column int
	key          string
	message      string
}

// printer returns the function that writes findings in a -format, or
// nil.
func printer(format string) func(w io.Writer, file string, p finding) {
	switch format {
	case "text":
		return printText
	case "json":
		return printJSON
	case "github":
		return printGitHub
	}
	return nil
}

// printText writes "FILE:LINE: key.path: message", leaving out what is
// unknown.
func printText(w io.Writer, file string, p finding) {
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
	fmt.Fprintln(w, b.String())
}

// printJSON writes one JSON object per line: file, line, column, key and
// message, the numbers 0 and the key "" when unknown.
func printJSON(w io.Writer, file string, p finding) {
	b, _ := json.Marshal(struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Key     string `json:"key"`
		Message string `json:"message"`
	}{file, p.line, p.column, p.key, p.message})
	fmt.Fprintf(w, "%s\n", b)
}

// printGitHub writes a GitHub Actions workflow command, which annotates
// the file at the line in the run's summary and in pull requests:
// "::error file=F,line=L,col=C,title=KEY::MESSAGE".
func printGitHub(w io.Writer, file string, p finding) {
	props := []string{"file=" + ghProperty(filepath.ToSlash(file))}
	if p.line > 0 {
		props = append(props, "line="+strconv.Itoa(p.line))
	}
	if p.column > 0 {
		props = append(props, "col="+strconv.Itoa(p.column))
	}
	title := "gracekit configuration"
	if p.key != "" {
		title = p.key
	}
	props = append(props, "title="+ghProperty(title))
	fmt.Fprintf(w, "::error %s::%s\n", strings.Join(props, ","), ghData(p.message))
}

// ghData escapes the message of a workflow command.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a property of a workflow command.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// problemsOf turns a Load error into the loader's problems; an error that
// is not an *config.Error is returned.
func problemsOf(err error) ([]config.Problem, error) {
	if err == nil {
		return nil, nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return nil, err
	}
	ps := ce.Problems
	if ce.Omitted > 0 {
		ps = append(ps, config.Problem{Message: fmt.Sprintf("... and %d more problems", ce.Omitted)})
	}
	return ps, nil
}

// merge puts the loader's problems first, then the schema's problems
// about keys the loader said nothing about (the loader and the schema are
// meant to agree, so any other would be worth seeing), sorted by line.
func merge(loader []config.Problem, schemaProblems []schema.Problem) []finding {
	out := make([]finding, 0, len(loader))
	for _, p := range loader {
		out = append(out, finding{p.Line, p.Column, p.Key, p.Message})
	}
	loaderFound := len(out) > 0
	for _, p := range schemaProblems {
		if loaderFound && covered(out, p.Key) {
			continue
		}
		out = append(out, finding{p.Line, p.Column, p.Key, schemaMessage(p)})
	}
	slices.SortStableFunc(out, func(a, b finding) int { return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.column, b.column)) })
	return out
}

// checkGracekit checks a gracekit configuration file with the loader,
// whose messages say how to fix each problem, and with the schema.
func checkGracekit(name string, data []byte) ([]finding, error) {
	cfg := config.Default()
	loader, err := problemsOf(config.Load(&cfg, config.WithFiles(name), config.WithoutEnv()))
	if err != nil {
		return nil, err
	}
	ps, err := schema.Validate(name, data)
	if err != nil {
		return nil, err
	}
	return merge(loader, ps), nil
}

// checkUser checks a file against a user's schema: with the loader, on a
// type built from the schema when the schema allows (loader is not nil),
// then with the schema.
func checkUser(loader *schemaLoader, v *schema.Validator, name string, data []byte) ([]finding, error) {
	var lps []config.Problem
	if loader != nil {
		var err error
		if lps, err = loader.check(name); err != nil {
			return nil, err
		}
	}
	ps, err := v.Validate(name, data)
	if err != nil {
		return nil, err
	}
	return merge(lps, ps), nil
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

// schemaMessage words a problem that only the schema found, which the
// loader could not see (an enum, a pattern, a range written in a
// jsonschema tag): the schema's message, with a "did you mean" for an
// enum, marked as the schema's.
func schemaMessage(p schema.Problem) string {
	msg := p.Message
	if len(p.Enum) > 0 {
		if s, ok := p.Value.(string); ok {
			quoted := make([]string, len(p.Enum))
			for i, e := range p.Enum {
				quoted[i] = strconv.Quote(fmt.Sprint(e))
			}
			msg = fmt.Sprintf("%q is not one of %s", s, strings.Join(quoted, ", "))
			names := make([]string, len(p.Enum))
			for i, e := range p.Enum {
				names[i] = fmt.Sprint(e)
			}
			if c := suggest.Closest(s, names); c != "" {
				msg += fmt.Sprintf(": did you mean %q?", c)
			}
		}
	}
	return msg + " (JSON Schema)"
}
