package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/gracekit/gracekit/config"
)

// userJob generates the files of a configuration type in a user's
// package: its JSON Schema and, when asked, its Markdown reference and a
// YAML file with every key at its default. invopop/jsonschema reflects at
// run time, so gen compiles a small test into the user's package (through
// go test -overlay, which leaves the package's directory untouched and
// works for package main too) and runs it; the test writes the schema and
// the keys, from which gen renders the other two files as it does
// gracekit's.
type userJob struct {
	Dir       string // the package's directory
	Type      string // the configuration type
	Defaults  string // a function returning it with its defaults, or ""
	Out       string // the schema file, relative to Dir
	Docs      string // the Markdown reference, relative to Dir, or ""
	YAML      string // the default YAML file, relative to Dir, or ""
	EnvPrefix string // the environment variables' prefix; "" means GRACEKIT_
	ID        string
	Title     string
}

// envPrefix returns the prefix of the job's environment variables.
func (j userJob) envPrefix() string {
	if j.EnvPrefix == "" {
		return config.DefaultEnvPrefix
	}
	return j.EnvPrefix
}

// genTestFile is the name the generator's test takes in the package.
const genTestFile = "zz_gracekit_gen_schema_test.go"

var genTest = template.Must(template.New("gen").Parse(`package {{.Package}}

// Written by github.com/gracekit/gracekit/gen for one run of go test.

import (
	"encoding/json"
	"os"
	"testing"

	gracekitgenconfig "github.com/gracekit/gracekit/config"
	gracekitgenschema "github.com/gracekit/gracekit/schema"
)

func TestGracekitGenSchema(t *testing.T) {
	comments := map[string]string{}
	for _, src := range [][2]string{ {{- range .Sources}}{ {{printf "%q" .ImportPath}}, {{printf "%q" .Dir}} }, {{end -}} } {
		c, err := gracekitgenschema.GoComments(src[0], src[1])
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c {
			comments[k] = v
		}
	}
	cfg := {{.Value}}
	out, err := gracekitgenschema.Generate(cfg, gracekitgenschema.Options{
		ID:       {{printf "%q" .ID}},
		Title:    {{printf "%q" .Title}},
		Comments: comments,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile({{printf "%q" .Output}}, out, 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := gracekitgenconfig.Keys(cfg, {{printf "%q" .EnvPrefix}})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		Path, Env, Kind string
		Value           any
		Owner, Pkg      string
		Secret          bool
		Required        bool
	}
	list := make([]key, len(keys))
	for i, k := range keys {
		list[i] = key{k.Path, k.Env, k.Kind, k.Value, k.Struct.String() + "." + k.Field, k.Struct.PkgPath(), k.Secret, k.Required}
	}
	data, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile({{printf "%q" .KeysOutput}}, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
`))

// commentSource is a package whose doc comments describe the schema.
type commentSource struct{ ImportPath, Dir string }

// userPackage is the package of a job, with what gen needs to compile a
// test into it.
type userPackage struct {
	ImportPath, Name, Dir string
	// placeholders stand for the generated files that do not exist yet,
	// through the overlay: a package that embeds its schema
	// ("//go:embed app.schema.json") compiles before the first go
	// generate has written it.
	placeholders map[string]string
}

// placeholder contents, by the extension of a generated file: an empty
// JSON Schema, which schema.Descriptions reads, and empty text.
var placeholder = map[string]string{".json": "{}\n"}

// pkg finds the job's package. tmp is a directory for the overlay's
// files.
func (j userJob) pkg(tmp string) (*userPackage, error) {
	for _, name := range []string{j.Type, j.Defaults} {
		if name != "" && !token.IsIdentifier(name) {
			return nil, fmt.Errorf("%q is not a Go identifier", name)
		}
	}
	p := &userPackage{placeholders: map[string]string{}}
	for i, out := range []string{j.Out, j.Docs, j.YAML} {
		if out == "" {
			continue
		}
		path := filepath.Join(j.Dir, out)
		if _, err := os.Stat(path); err == nil {
			continue
		}
		ph := filepath.Join(tmp, fmt.Sprintf("placeholder-%d%s", i, filepath.Ext(out)))
		if err := os.WriteFile(ph, []byte(placeholder[filepath.Ext(out)]), 0o644); err != nil {
			return nil, err
		}
		p.placeholders[path] = ph
	}
	overlay, err := p.overlay(tmp, "", "")
	if err != nil {
		return nil, err
	}
	info, err := goList(j.Dir, overlay, "{{.ImportPath}}\n{{.Name}}\n{{.Dir}}", ".")
	if err != nil {
		return nil, err
	}
	if len(info) != 3 {
		return nil, fmt.Errorf("go list: unexpected output %q", info)
	}
	p.ImportPath, p.Name, p.Dir = info[0], info[1], info[2]
	if _, err := os.Stat(filepath.Join(p.Dir, genTestFile)); err == nil {
		return nil, fmt.Errorf("%s already exists in %s: gen needs that name", genTestFile, p.Dir)
	}
	return p, nil
}

// overlay writes the go command's -overlay file: the placeholders and,
// when test is set, the generated test file with that content.
func (p *userPackage) overlay(tmp, name, test string) (string, error) {
	replace := map[string]string{}
	for path, ph := range p.placeholders {
		replace[path] = ph
	}
	if test != "" {
		testPath := filepath.Join(tmp, name)
		if err := os.WriteFile(testPath, []byte(test), 0o644); err != nil {
			return "", err
		}
		replace[filepath.Join(p.Dir, genTestFile)] = testPath
	}
	data, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return "", err
	}
	path := filepath.Join(tmp, "overlay-"+name+".json")
	return path, os.WriteFile(path, data, 0o644)
}

// runTest compiles test into the package, without writing to its
// directory, and runs its test function run.
func (p *userPackage) runTest(tmp, run, test string) error {
	overlay, err := p.overlay(tmp, genTestFile, test)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "test", "-overlay", overlay, "-run", "^"+run+"$", "-count=1", "-vet=off", ".")
	cmd.Dir = p.Dir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test in %s: %v\n%s", p.ImportPath, err, strings.TrimSpace(log.String()))
	}
	return nil
}

// value is the Go expression of the job's configuration with its
// defaults.
func (j userJob) value() string {
	if j.Defaults != "" {
		return j.Defaults + "()"
	}
	return j.Type + "{}"
}

// generate returns the files of the job's type, their paths relative to
// j.Dir.
func (j userJob) generate() ([]generated, error) {
	tmp, err := os.MkdirTemp("", "gracekit-gen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	pkg, err := j.pkg(tmp)
	if err != nil {
		return nil, err
	}
	importPath, name, pkgDir := pkg.ImportPath, pkg.Name, pkg.Dir
	cfgDir, err := goList(j.Dir, "", "{{.Dir}}", gracekitModule+"/config")
	if err != nil {
		return nil, err
	}
	output := filepath.Join(tmp, "schema.json")
	keysOutput := filepath.Join(tmp, "keys.json")
	id := j.ID
	if id == "" {
		id = "https://" + importPath + "/" + filepath.ToSlash(j.Out)
	}
	title := j.Title
	if title == "" {
		title = j.Type + " configuration"
	}
	var src bytes.Buffer
	err = genTest.Execute(&src, map[string]any{
		"Package":    name,
		"Sources":    []commentSource{{gracekitModule + "/config", cfgDir[0]}, {importPath, pkgDir}},
		"Value":      j.value(),
		"ID":         id,
		"Title":      title,
		"Output":     output,
		"KeysOutput": keysOutput,
		"EnvPrefix":  j.envPrefix(),
	})
	if err != nil {
		return nil, err
	}
	if err := pkg.runTest(tmp, "TestGracekitGenSchema", src.String()); err != nil {
		return nil, fmt.Errorf("reflect %s.%s: %w", importPath, j.Type, err)
	}
	schemaJSON, err := os.ReadFile(output)
	if err != nil {
		return nil, err
	}
	files := []generated{{j.Out, schemaJSON}}
	if j.Docs == "" && j.YAML == "" {
		return files, nil
	}
	keysJSON, err := os.ReadFile(keysOutput)
	if err != nil {
		return nil, err
	}
	keys, err := decodeKeys(keysJSON)
	if err != nil {
		return nil, err
	}
	desc, err := describe(schemaJSON, keys)
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", importPath, j.Type, err)
	}
	if j.Docs != "" {
		files = append(files, generated{j.Docs, renderDocs(userPage(j, importPath, desc), desc)})
	}
	if j.YAML != "" {
		ref, err := filepath.Rel(filepath.Dir(filepath.Join(j.Dir, j.YAML)), filepath.Join(j.Dir, j.Out))
		if err != nil {
			return nil, err
		}
		header := fmt.Sprintf("Every setting of %s at its default value. Generated by \"gen schema -type %s\"\nfrom the Go types of %s: do not edit.", j.Type, j.Type, importPath)
		if j.Docs != "" {
			header += " See " + filepath.ToSlash(j.Docs) + "."
		}
		files = append(files, generated{j.YAML, renderDefaultYAML(desc, filepath.ToSlash(ref), header)})
	}
	return files, nil
}

// validateTest loads configuration files with the job's type, as the
// program does: from its defaults, with its sections' rules (its own
// Validate methods included), without the environment.
var validateTest = template.Must(template.New("validate").Parse(`package {{.Package}}

// Written by github.com/gracekit/gracekit/gen for one run of go test.

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	gracekitgenconfig "github.com/gracekit/gracekit/config"
)

func TestGracekitGenValidate(t *testing.T) {
	type result struct {
		Problems []gracekitgenconfig.Problem
		Omitted  int
		Err      string
	}
	var results []result
	for _, file := range []string{ {{- range .Files}}{{printf "%q" .}}, {{end -}} } {
		cfg := {{.Value}}
		err := gracekitgenconfig.Load(&cfg, gracekitgenconfig.WithFiles(file), gracekitgenconfig.WithoutEnv(), gracekitgenconfig.WithEnvPrefix({{printf "%q" .EnvPrefix}}))
		var r result
		var ce *gracekitgenconfig.Error
		switch {
		case errors.As(err, &ce):
			r.Problems, r.Omitted = ce.Problems, ce.Omitted
		case err != nil:
			r.Err = err.Error()
		}
		results = append(results, r)
	}
	data, err := json.Marshal(results)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile({{printf "%q" .Output}}, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
`))

// load loads each of files (absolute paths) with the job's type, in its
// package, and returns the loader's problems for each, as the program
// would report them. It runs one go test for all the files.
func (j userJob) load(files []string) ([][]config.Problem, error) {
	tmp, err := os.MkdirTemp("", "gracekit-validate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	pkg, err := j.pkg(tmp)
	if err != nil {
		return nil, err
	}
	output := filepath.Join(tmp, "problems.json")
	var src bytes.Buffer
	err = validateTest.Execute(&src, map[string]any{
		"Package":   pkg.Name,
		"Files":     files,
		"Value":     j.value(),
		"EnvPrefix": j.envPrefix(),
		"Output":    output,
	})
	if err != nil {
		return nil, err
	}
	if err := pkg.runTest(tmp, "TestGracekitGenValidate", src.String()); err != nil {
		return nil, fmt.Errorf("load with %s.%s: %w", pkg.ImportPath, j.Type, err)
	}
	data, err := os.ReadFile(output)
	if err != nil {
		return nil, err
	}
	var results []struct {
		Problems []config.Problem
		Omitted  int
		Err      string
	}
	if err := json.Unmarshal(data, &results); err != nil {
		return nil, fmt.Errorf("read the problems of %s.%s: %w", pkg.ImportPath, j.Type, err)
	}
	if len(results) != len(files) {
		return nil, fmt.Errorf("the loader of %s.%s checked %d files of %d", pkg.ImportPath, j.Type, len(results), len(files))
	}
	out := make([][]config.Problem, len(files))
	for i, r := range results {
		if r.Err != "" {
			return nil, fmt.Errorf("load %s with %s.%s: %s", files[i], pkg.ImportPath, j.Type, r.Err)
		}
		out[i] = problemList(&config.Error{Problems: r.Problems, Omitted: r.Omitted})
	}
	return out, nil
}
