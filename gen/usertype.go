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
)

// userJob generates the schema of a configuration type in a user's
// package. invopop/jsonschema reflects at run time, so gen compiles a
// small test into the user's package (through go test -overlay, which
// leaves the package's directory untouched and works for package main
// too) and runs it.
type userJob struct {
	Dir      string // the package's directory
	Type     string // the configuration type
	Defaults string // a function returning it with its defaults, or ""
	Out      string // the schema file, relative to Dir
	ID       string
	Title    string
}

// genTestFile is the name the generator's test takes in the package.
const genTestFile = "zz_gracekit_gen_schema_test.go"

var genTest = template.Must(template.New("gen").Parse(`package {{.Package}}

// Written by github.com/gracekit/gracekit/gen for one run of go test.

import (
	"os"
	"testing"

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
	out, err := gracekitgenschema.Generate({{.Value}}, gracekitgenschema.Options{
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
}
`))

// commentSource is a package whose doc comments describe the schema.
type commentSource struct{ ImportPath, Dir string }

// generate returns the schema of the job's type.
func (j userJob) generate() ([]byte, error) {
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
		"Package": name,
		"Sources": []commentSource{{gracekitModule + "/config", cfgDir[0]}, {importPath, pkgDir}},
		"Value":   value,
		"ID":      id,
		"Title":   title,
		"Output":  output,
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
	return os.ReadFile(output)
}
