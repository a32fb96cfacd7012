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

// generate returns the files of the job's type, their paths relative to
// j.Dir.
func (j userJob) generate() ([]generated, error) {
	for _, name := range []string{j.Type, j.Defaults} {
		if name != "" && !token.IsIdentifier(name) {
			return nil, fmt.Errorf("%q is not a Go identifier", name)
		}
	}
	pkg, err := goList(j.Dir, "{{.ImportPath}}\n{{.Name}}\n{{.Dir}}", ".")
	if err != nil {
		return nil, err
	}
	if len(pkg) != 3 {
		return nil, fmt.Errorf("go list: unexpected output %q", pkg)
	}
	importPath, name, pkgDir := pkg[0], pkg[1], pkg[2]
	cfgDir, err := goList(j.Dir, "{{.Dir}}", gracekitModule+"/config")
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(pkgDir, genTestFile)); err == nil {
		return nil, fmt.Errorf("%s already exists in %s: gen needs that name", genTestFile, pkgDir)
	}

	tmp, err := os.MkdirTemp("", "gracekit-gen-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	output := filepath.Join(tmp, "schema.json")
	keysOutput := filepath.Join(tmp, "keys.json")
	value := j.Type + "{}"
	if j.Defaults != "" {
		value = j.Defaults + "()"
	}
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
		"Value":      value,
		"ID":         id,
		"Title":      title,
		"Output":     output,
		"KeysOutput": keysOutput,
		"EnvPrefix":  j.envPrefix(),
	})
	if err != nil {
		return nil, err
	}
	testPath := filepath.Join(tmp, genTestFile)
	if err := os.WriteFile(testPath, src.Bytes(), 0o644); err != nil {
		return nil, err
	}
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkgDir, genTestFile): testPath}})
	if err != nil {
		return nil, err
	}
	overlayPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "test", "-overlay", overlayPath, "-run", "^TestGracekitGenSchema$", "-count=1", "-vet=off", ".")
	cmd.Dir = pkgDir
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("reflect %s.%s with go test: %v\n%s", importPath, j.Type, err, strings.TrimSpace(log.String()))
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
