package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// repoRoot is the gracekit module's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copyTree copies the source tree of the repository into a temporary
// directory, without .git and node_modules.
func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := repoRoot(t)
	files, err := gracekitFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	again, err := gracekitFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if !bytes.Equal(f.content, again[i].content) {
			t.Errorf("%s: two generations differ", f.path)
		}
		disk, err := os.ReadFile(filepath.Join(root, f.path))
		if err != nil || !bytes.Equal(disk, f.content) {
			t.Errorf("%s is not what gen writes now (run go generate ./...): %v", f.path, err)
		}
	}
	if len(files) != 3 {
		t.Errorf("%d files", len(files))
	}
	yaml := string(files[2].content)
	if !strings.HasPrefix(yaml, "# yaml-language-server: $schema=../../schema/gracekit.schema.json\n") {
		t.Errorf("default.yaml starts %q", yaml[:60])
	}
	for _, want := range []string{"  maxHeaderBytes: 10240\n", "  readTimeout: 1m0s\n", "  restartSignal: \"SIGHUP\"\n", "\nlog:\n"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("default.yaml lacks %q", want)
		}
	}
	docs := string(files[1].content)
	for _, want := range []string{
		"| `server.maxHeaderBytes` | size | `10240` (10 KiB) | `GRACEKIT_SERVER_MAX_HEADER_BYTES` | Largest request header block accepted;",
		"| `log.level` | one of `debug`, `info`, `warn`, `error` | `\"info\"` | `GRACEKIT_LOG_LEVEL` |",
		"| **`process`** | section | | | How the process restarts",
	} {
		if !strings.Contains(docs, want) {
			t.Errorf("docs/config.md lacks %q", want)
		}
	}
}

func TestCheckFindsStaleFiles(t *testing.T) {
	dir := copyTree(t, repoRoot(t))
	var out, errOut bytes.Buffer
	if code := runCheck(dir, nil, &out, &errOut); code != exitOK {
		t.Fatalf("check of a fresh copy: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	appendTo := func(rel, text string) {
		f, err := os.OpenFile(filepath.Join(dir, rel), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(text)
		f.Close()
	}
	appendTo("docs/config.md", "hand edit\n")
	appendTo("examples/config/app.schema.json", " ")
	if err := os.Remove(filepath.Join(dir, "examples/config/default.yaml")); err != nil {
		t.Fatal(err)
	}
	// A changed doc comment makes the schema stale too.
	sections := filepath.Join(dir, "config", "sections.go")
	src, err := os.ReadFile(sections)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(sections, bytes.Replace(src, []byte("Whether connections are kept open"), []byte("Whether connections stay open"), 1), 0o644)

	out.Reset()
	errOut.Reset()
	if code := runCheck(dir, nil, &out, &errOut); code != exitInvalid {
		t.Fatalf("check of a stale copy: exit %d", code)
	}
	// The doc comment is in the reference and default file of AppConfig
	// too.
	want := "stale: docs/config.md\nstale: examples/config/app.default.yaml\nstale: examples/config/app.md\nstale: examples/config/app.schema.json\nstale: examples/config/default.yaml\nstale: schema/gracekit.schema.json\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	if !strings.Contains(errOut.String(), "run go generate ./...") {
		t.Errorf("stderr: %s", errOut.String())
	}
	if code := runCheck(dir, []string{"extra"}, &out, &errOut); code != exitUsage {
		t.Errorf("check with an argument: exit %d", code)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "server:\n  address: \":8080\"\n  maxHeaderBytes: 16KiB\n")
	bad := write("bad.toml", "[server]\naddress = \"localhost:99999\"\nmaxHeaderByte = 1\n\n[process]\nmaxGenerations = 1\n")
	loaderOnly := write("same.json", `{"server": {"address": ":1", "httpsAddress": ":1", "certFile": "c", "keyFile": "k"}}`)
	missing := filepath.Join(dir, "missing.yaml")
	userSchema := write("user.schema.json", `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}`)
	userGood := write("user.yaml", "# yaml-language-server: $schema=user.schema.json\nname: x\n")
	userBad := write("user-bad.yaml", "# yaml-language-server: $schema=user.schema.json\nname: 1\nother: 2\n")
	noSchema := write("shop.yaml", "server:\n  address: \":1\"\nshop:\n  name: x\n")
	appSchema, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "config", "app.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	write("app.schema.json", string(appSchema))
	appBad := write("app.yaml", "# yaml-language-server: $schema=app.schema.json\nserver:\n  adress: \":1\"\n  maxHeaderBytes: 1,5mb\nlog:\n  level: warning\napp:\n  maxUploadSize: 1,5mb\n  greting: hi\n  upstream:\n    url: \"\"\n")
	appOrder := write("order.yaml", "# yaml-language-server: $schema=app.schema.json\nxyzzy: 1\napp:\n  upstream:\n    url: \"\"\n")
	appNoURL := write("nourl.yaml", "# yaml-language-server: $schema=app.schema.json\napp:\n  greeting: hi\n")
	enumSchema := write("enum.schema.json", `{"type": "object", "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"], "default": "red"}}, "additionalProperties": false}`)
	enumBad := write("enum.toml", "color = \"gren\"\n")

	for _, c := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"valid", []string{"validate", good}, exitOK, ""},
		{"invalid", []string{"validate", good, bad}, exitInvalid,
			bad + `:2: server.address: the address "localhost:99999" has the port 99999, out of range: write a port from 0 to 65535 (0 picks any free port)` + "\n" +
				bad + `:3: server.maxHeaderByte: unknown key; did you mean "maxHeaderBytes"?` + "\n" +
				bad + `:6: process.maxGenerations: 1 is too few: at least 2 generations (the serving one and one draining) must be allowed` + "\n"},
		{"loader rules beyond the schema", []string{"validate", loaderOnly}, exitInvalid,
			loaderOnly + `:1: server.httpsAddress: ":1" is also the HTTP address: the HTTP and HTTPS servers need addresses of their own` + "\n"},
		{"missing file: a usage error, as the program's", []string{"validate", missing, good}, exitUsage, ""},
		{"schema named in the file", []string{"validate", userGood}, exitOK, ""},
		{"schema named in the file, invalid", []string{"validate", userBad}, exitInvalid,
			userBad + ":2: name: 1 is a number, not a string: quote it\n" + userBad + ":3: other: unknown key; the top-level keys are name\n"},
		{"-schema", []string{"validate", "-schema", userSchema, good}, exitInvalid,
			good + ":1: server: unknown key; the top-level keys are name\n"},
		{"no schema named", []string{"validate", noSchema}, exitInvalid,
			noSchema + `:3: shop: unknown key; the top-level keys are server, process, log; this file names no schema, so it was checked as a gracekit configuration: for a program's own configuration, give its schema with -schema FILE or name it on the file's first line (# yaml-language-server: $schema=app.schema.json, or #:schema app.schema.json in TOML)` + "\n"},
		{"a user's schema: loader messages for every key", []string{"validate", appBad}, exitInvalid,
			appBad + `:3: server.adress: unknown key; did you mean "address"?` + "\n" +
				appBad + `:4: server.maxHeaderBytes: "1,5mb" has a decimal comma: write 1.5mb (1500000 bytes)` + "\n" +
				appBad + `:6: log.level: "warning" is not a log level: did you mean "warn"?` + "\n" +
				appBad + `:8: app.maxUploadSize: "1,5mb" has a decimal comma: write 1.5mb (1500000 bytes)` + "\n" +
				appBad + `:9: app.greting: unknown key; did you mean "greeting"?` + "\n"},
		{"a user's schema: keys listed in the type's order, as the program lists them", []string{"validate", appOrder}, exitInvalid,
			appOrder + `:2: xyzzy: unknown key; the top-level keys are server, process, log, app` + "\n"},
		{"a user's schema: a required key, read from the schema", []string{"validate", appNoURL}, exitInvalid,
			appNoURL + `: app.upstream.url: is required, and nothing sets it: write it in the configuration file, or set GRACEKIT_APP_UPSTREAM_URL` + "\n"},
		{"a user's schema: enum", []string{"validate", "-schema", enumSchema, enumBad}, exitInvalid,
			enumBad + `:1: color: "gren" is not one of "red", "green", "blue": did you mean "green"? (JSON Schema)` + "\n"},
		{"-format json", []string{"validate", "-format", "json", bad}, exitInvalid,
			`{"file":"` + bad + `","line":2,"column":1,"key":"server.address","message":"the address \"localhost:99999\" has the port 99999, out of range: write a port from 0 to 65535 (0 picks any free port)"}` + "\n" +
				`{"file":"` + bad + `","line":3,"column":1,"key":"server.maxHeaderByte","message":"unknown key; did you mean \"maxHeaderBytes\"?"}` + "\n" +
				`{"file":"` + bad + `","line":6,"column":1,"key":"process.maxGenerations","message":"1 is too few: at least 2 generations (the serving one and one draining) must be allowed"}` + "\n"},
		{"-format github", []string{"validate", "-format", "github", appBad}, exitInvalid,
			"::error file=" + appBad + ",line=3,col=3,title=server.adress::unknown key; did you mean \"address\"?\n" +
				"::error file=" + appBad + ",line=4,col=3,title=server.maxHeaderBytes::\"1,5mb\" has a decimal comma: write 1.5mb (1500000 bytes)\n" +
				"::error file=" + appBad + ",line=6,col=3,title=log.level::\"warning\" is not a log level: did you mean \"warn\"?\n" +
				"::error file=" + appBad + ",line=8,col=3,title=app.maxUploadSize::\"1,5mb\" has a decimal comma: write 1.5mb (1500000 bytes)\n" +
				"::error file=" + appBad + ",line=9,col=3,title=app.greting::unknown key; did you mean \"greeting\"?\n"},
		{"unknown -format", []string{"validate", "-format", "xml", good}, exitUsage, ""},
		{"no files", []string{"validate"}, exitUsage, ""},
		{"unknown format", []string{"validate", good, filepath.Join(dir, "app.ini")}, exitUsage, ""},
		{"missing -schema file", []string{"validate", "-schema", missing, good}, exitUsage, ""},
		{"bad flag", []string{"validate", "-strict", good}, exitUsage, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, ""},
	} {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		if code != c.code || out.String() != c.out {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr: %s", c.name, code, c.code, out.String(), c.out, errOut.String())
		}
		if c.code == exitUsage && errOut.Len() == 0 {
			t.Errorf("%s: a usage error says nothing", c.name)
		}
	}
}

func TestExamplesValidate(t *testing.T) {
	root := repoRoot(t)
	matches, err := filepath.Glob(filepath.Join(root, "examples", "config", "*.yaml"))
	if err != nil || len(matches) < 2 {
		t.Fatalf("examples: %v %v", matches, err)
	}
	var out, errOut bytes.Buffer
	if code := run(append([]string{"validate"}, matches...), &out, &errOut); code != exitOK {
		t.Errorf("gen validate examples/config/*.yaml: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func TestSchemaUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-type", "AppConfig"},
		{"-out", "x.json"},
		{"stray"},
		{"-nope"},
	} {
		var errOut bytes.Buffer
		if code := runSchema(t.TempDir(), args, &errOut); code != exitUsage {
			t.Errorf("gen schema %v: exit %d, want %d", args, code, exitUsage)
		}
	}
	// Without -type, gen writes gracekit's own files only in gracekit.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n\ngo 1.26\n"), 0o644)
	var errOut bytes.Buffer
	if code := runSchema(dir, nil, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "use -type and -out") {
		t.Errorf("gen schema outside gracekit: exit %d: %s", code, errOut.String())
	}
}

func TestParseJob(t *testing.T) {
	j, err := parseJob([]string{"-type", "AppConfig", "-defaults=Defaults", "--out", "a.json"})
	if err != nil || j.Type != "AppConfig" || j.Defaults != "Defaults" || j.Out != "a.json" {
		t.Errorf("got %+v, %v", j, err)
	}
	for _, args := range [][]string{{"-type", "X"}, {"-type"}, {"-color", "red"}} {
		if _, err := parseJob(args); err == nil {
			t.Errorf("parseJob(%q) accepted", args)
		}
	}
	for arg, want := range map[string]bool{"../../gen": true, "github.com/gracekit/gracekit/gen@v0.3.0": true, "gen": true, "generate": false, "./cmd/gentool": false} {
		if isGen(arg) != want {
			t.Errorf("isGen(%q) = %v", arg, !want)
		}
	}
}

// TestPreCommitHook checks .pre-commit-hooks.yaml against what pre-commit
// does with a golang hook: it runs "go install ./..." in the repository,
// which names each binary after its package's directory, then runs the
// entry with the matching files as arguments.
// TestPreCommitHook runs the hook's entry as pre-commit would, from a
// copy of the repository: it must build gen alone, under a name of its
// own, and check the files it is given.
func TestPreCommitHook(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID       string   `yaml:"id"`
		Entry    string   `yaml:"entry"`
		Language string   `yaml:"language"`
		Files    string   `yaml:"files"`
		TypesOr  []string `yaml:"types_or"`
	}
	if err := yaml.Unmarshal(data, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || hooks[0].ID != "gracekit-validate" || hooks[0].Language != "script" {
		t.Fatalf("hooks: %+v", hooks)
	}
	h := hooks[0]
	files := regexp.MustCompile(h.Files)
	for name, want := range map[string]bool{"examples/config/app.yaml": true, "config/prod.toml": true, "deploy/config/a.json": true, ".github/workflows/ci.yaml": false, "config/notes.md": false} {
		if files.MatchString(name) != want {
			t.Errorf("files %q matches %s: %v", h.Files, name, !want)
		}
	}
	if _, err := exec.LookPath("sh"); err != nil {
		if os.Getenv("GRACEKIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("sh is required (GRACEKIT_REQUIRE_TOOLS=1) to run the hook's script: %v", err)
		}
		t.Skipf("skipped: no sh to run the hook's script (%v); set GRACEKIT_REQUIRE_TOOLS=1 to make this a failure", err)
	}
	repo := copyTree(t, root)
	script := filepath.Join(repo, filepath.FromSlash(h.Entry))
	if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(h.Entry))); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("the hook's entry %s is not an executable file: %v", h.Entry, err)
	}
	hook := func(args ...string) (string, error) {
		cmd := exec.Command("sh", append([]string{script}, args...)...)
		cmd.Dir = t.TempDir() // pre-commit runs it in the repository being committed to
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	good := filepath.Join(root, "examples", "config", "default.yaml")
	if out, err := hook(good); err != nil {
		t.Fatalf("the hook on %s: %v\n%s", good, err, out)
	}
	entries, err := os.ReadDir(filepath.Join(repo, ".pre-commit-bin"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "gracekit-gen" {
		t.Errorf("the hook built %v (%v), want gracekit-gen alone", entries, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("server:\n  adress: \":8080\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := hook(bad)
	if want := bad + `:2: server.adress: unknown key; did you mean "address"?`; err == nil || !strings.Contains(out, want) {
		t.Errorf("the hook on a bad file: %v\n%s\nwant %s", err, out, want)
	}
}

// TestDocsSayWhatARestartChanges checks that the reference says which
// keys take effect at a restart, in words the README repeats.
func TestDocsSayWhatARestartChanges(t *testing.T) {
	root := repoRoot(t)
	const want = "every key takes effect at a restart, in both modes"
	for _, name := range []string{"docs/config.md", "examples/config/app.md", "README.md"} {
		data, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ToLower(strings.Join(strings.Fields(string(data)), " "))
		if !strings.Contains(text, want) || !strings.Contains(text, "process.mode`, which takes effect at the next full start") {
			t.Errorf("%s does not say which keys take effect at a restart", name)
		}
	}
}
