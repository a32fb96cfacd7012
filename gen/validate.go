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
//
// When the schema is one that a go:generate line of the module around the
// working directory writes ("gen schema -type T -out FILE"), the loader
// reads the file with the type T itself, from its defaults, with the rules
// of its sections, the program's own Validate methods included: gen
// validate and the program agree. A schema named by a path that does not
// exist (a file copied away from its schema) or by its $id is found among
// those go:generate lines.
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
	contents := make([][]byte, len(files))
	for i, f := range files {
		if config.FormatOf(f) == "" {
			fmt.Fprintf(stderr, "gen validate: %s: unknown format: name configuration files .yaml, .yml, .json or .toml\n", f)
			return exitUsage
		}
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "gen validate: %s: cannot read the file: %v\n", f, errors.Unwrap(err))
			return exitUsage
		}
		contents[i] = data
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "gen validate:", err)
		return exitInvalid
	}
	schemas := newSchemas(wd)
	targets := make([]*target, len(files))
	for i, f := range files {
		ref, relTo := *schemaPath, wd
		if ref == "" {
			ref, relTo = schemaRef(contents[i]), filepath.Dir(f)
		}
		sc, err := schemas.find(ref, relTo)
		if err != nil {
			fmt.Fprintf(stderr, "gen validate: %s: %v\n", f, err)
			return exitUsage
		}
		targets[i] = &target{name: f, data: contents[i], schema: sc, named: ref != ""}
	}
	if err := loadAll(targets); err != nil {
		fmt.Fprintf(stderr, "gen validate: %v\n", err)
		return exitInvalid
	}
	code := exitOK
	for _, t := range targets {
		found, err := t.check()
		if err != nil {
			fmt.Fprintf(stderr, "gen validate: %s: %v\n", t.name, err)
			return exitInvalid
		}
		if !t.named {
			hintSchema(found)
		}
		for _, p := range found {
			print(stdout, t.name, p)
			code = exitInvalid
		}
	}
	return code
}

// target is a file to check, with its schema.
type target struct {
	name   string // as given on the command line
	data   []byte
	schema *schemaInfo
	named  bool // the file (or -schema) names a schema
	// loader holds the loader's problems once loadAll has run.
	loader []config.Problem
}

// schemaInfo is a schema files are checked against: gracekit's, or a
// program's.
type schemaInfo struct {
	path      string // "" for gracekit's
	validator *schema.Validator
	// job is the go:generate line that writes the schema, whose type
	// the loader reads the files with; when nil, the loader reads them
	// with a type built from the schema (see dynamic.go), or not at all
	// when the schema holds what the loader cannot read (dynamic nil).
	job     *userJob
	dynamic *schemaLoader
}

// loadAll runs the loader on every target: gracekit's type or a type
// built from the schema in this process, a program's own type in its
// package, all the files of one type in one go test.
func loadAll(targets []*target) error {
	byJob := map[*schemaInfo][]*target{}
	var order []*schemaInfo
	for _, t := range targets {
		switch sc := t.schema; {
		case sc.path == "":
			cfg := config.Default()
			ps, err := problemsOf(config.Load(&cfg, config.WithFiles(t.name), config.WithoutEnv()))
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.loader = ps
		case sc.job != nil:
			if byJob[sc] == nil {
				order = append(order, sc)
			}
			byJob[sc] = append(byJob[sc], t)
		case sc.dynamic != nil:
			ps, err := sc.dynamic.check(t.name)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.loader = ps
		}
	}
	for _, sc := range order {
		ts := byJob[sc]
		abs := make([]string, len(ts))
		for i, t := range ts {
			var err error
			if abs[i], err = filepath.Abs(t.name); err != nil {
				return err
			}
		}
		results, err := sc.job.load(abs)
		if err != nil {
			return err
		}
		for i, t := range ts {
			t.loader = results[i]
		}
	}
	return nil
}

// check merges the loader's problems with the schema's.
func (t *target) check() ([]finding, error) {
	var ps []schema.Problem
	var err error
	if t.schema.path == "" {
		ps, err = schema.Validate(t.name, t.data)
	} else {
		ps, err = t.schema.validator.Validate(t.name, t.data)
	}
	if err != nil {
		return nil, err
	}
	return merge(t.loader, ps), nil
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

// schemas finds and compiles each schema once.
type schemas struct {
	wd     string
	byPath map[string]*schemaInfo
	jobs   []generatedSchema // nil until needed
	looked bool
}

// generatedSchema is a schema a go:generate line of the module writes.
type generatedSchema struct {
	job  userJob
	path string // absolute
	id   string // its $id, when the file exists
}

func newSchemas(wd string) *schemas {
	return &schemas{wd: wd, byPath: map[string]*schemaInfo{"": {}}}
}

// generated returns the schemas the go:generate lines of the module
// around the working directory write (none outside a module).
func (s *schemas) generated() []generatedSchema {
	if s.looked {
		return s.jobs
	}
	s.looked = true
	root, _, err := moduleRoot(s.wd)
	if err != nil {
		return nil
	}
	jobs, err := userJobs(root)
	if err != nil {
		return nil
	}
	for _, j := range jobs {
		g := generatedSchema{job: j, path: filepath.Join(j.Dir, j.Out)}
		if data, err := os.ReadFile(g.path); err == nil {
			var head struct {
				ID string `json:"$id"`
			}
			if json.Unmarshal(data, &head) == nil {
				g.id = head.ID
			}
		}
		s.jobs = append(s.jobs, g)
	}
	return s.jobs
}

// find returns the schema ref names, a path relative to relTo or a URL:
// gracekit's for "" and for gracekit's $id (or a file whose $id it is).
func (s *schemas) find(ref, relTo string) (*schemaInfo, error) {
	if ref == "" || ref == schema.ID {
		return s.byPath[""], nil
	}
	var path string
	if isURL(ref) {
		for _, g := range s.generated() {
			if g.id == ref {
				path = g.path
			}
		}
		if path == "" {
			return nil, fmt.Errorf("the schema %s is not a local file, nor the $id of a schema a go:generate line of this module writes: gen validate does not fetch schemas; give it with -schema FILE", ref)
		}
	} else {
		path = ref
		if !filepath.IsAbs(path) {
			path = filepath.Join(relTo, path)
		}
		if _, err := os.Stat(path); err != nil {
			// The file was copied away from its schema: find the schema
			// of that name that a go:generate line writes.
			var found []string
			for _, g := range s.generated() {
				if filepath.Base(g.path) == filepath.Base(ref) {
					found = append(found, g.path)
				}
			}
			if len(found) != 1 {
				return nil, fmt.Errorf("the schema %s does not exist (a path is relative to the file that names it), and %d go:generate lines of this module write a schema of that name: give it with -schema FILE", path, len(found))
			}
			path = found[0]
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if sc, ok := s.byPath[abs]; ok {
		return sc, nil
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read the schema: %w", err)
	}
	var head struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s is not JSON: %w", path, err)
	}
	if head.ID == schema.ID {
		s.byPath[abs] = s.byPath[""]
		return s.byPath[abs], nil
	}
	v, err := schema.NewValidator(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := &schemaInfo{path: abs, validator: v}
	for _, g := range s.generated() {
		if g.path == abs {
			sc.job = &g.job
		}
	}
	if sc.job == nil {
		// A schema the loader cannot read as a Go type is checked by the
		// schema alone.
		sc.dynamic, _ = newSchemaLoader(data)
	}
	s.byPath[abs] = sc
	return sc, nil
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
	return problemList(ce), nil
}

// problemList lists the problems of an *config.Error, with a last one
// that counts those it omits.
func problemList(ce *config.Error) []config.Problem {
	ps := ce.Problems
	if ce.Omitted > 0 {
		ps = append(ps, config.Problem{Message: fmt.Sprintf("... and %d more problems", ce.Omitted)})
	}
	return ps
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
