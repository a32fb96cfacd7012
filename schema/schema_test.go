package schema_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

// generateGracekit generates gracekit's schema as gen does.
func generateGracekit(t *testing.T) []byte {
	t.Helper()
	comments, err := schema.GoComments("github.com/gracekit/gracekit/config", "../config")
	if err != nil {
		t.Fatal(err)
	}
	out, err := schema.Generate(config.Default(), schema.Options{ID: schema.ID, Title: schema.Title, Description: schema.Description, Comments: comments})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCommittedSchemaIsCurrent(t *testing.T) {
	first := generateGracekit(t)
	if second := generateGracekit(t); !bytes.Equal(first, second) {
		t.Fatal("two generations differ: the schema is not deterministic")
	}
	if !bytes.Equal(first, schema.JSON()) {
		t.Error("gracekit.schema.json is stale: run go generate ./...")
	}
	disk, err := os.ReadFile("gracekit.schema.json")
	if err != nil || !bytes.Equal(disk, schema.JSON()) {
		t.Errorf("the embedded schema is not the file on disk (%v)", err)
	}
}

// walkProperties calls fn for every property of a schema object, with its
// dotted path.
func walkProperties(node map[string]any, prefix string, fn func(path string, prop map[string]any)) {
	props, _ := node["properties"].(map[string]any)
	for name, p := range props {
		prop := p.(map[string]any)
		path := strings.TrimPrefix(prefix+"."+name, ".")
		fn(path, prop)
		walkProperties(prop, path, fn)
	}
}

func TestEveryPropertyIsDescribed(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(schema.JSON(), &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" || root["$id"] != schema.ID || root["title"] != schema.Title || root["additionalProperties"] != false {
		t.Errorf("root: %v %v %v %v", root["$schema"], root["$id"], root["title"], root["additionalProperties"])
	}
	keys, err := config.Keys(config.Default(), "")
	if err != nil {
		t.Fatal(err)
	}
	defaults := map[string]any{}
	for _, k := range keys {
		defaults[k.Path] = k.Value
	}
	n := 0
	walkProperties(root, "", func(path string, prop map[string]any) {
		n++
		if d, _ := prop["description"].(string); len(d) < 20 {
			t.Errorf("%s: description %q", path, d)
		}
		if prop["type"] == "object" {
			if prop["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties is not false", path)
			}
			return
		}
		want, _ := json.Marshal(defaults[path])
		got, _ := json.Marshal(prop["default"])
		if _, ok := prop["default"]; !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: default %s, want %s from config.Default()", path, got, want)
		}
	})
	if n != len(keys) {
		t.Errorf("%d properties in the schema, %d keys in config", n, len(keys))
	}
}

func TestSchemaPieces(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(schema.JSON(), &root); err != nil {
		t.Fatal(err)
	}
	prop := func(path string) map[string]any {
		node := root
		for k := range strings.SplitSeq(path, ".") {
			node = node["properties"].(map[string]any)[k].(map[string]any)
		}
		return node
	}
	mustJSON := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, c := range []struct{ path, field, want string }{
		{"server.maxHeaderBytes", "oneOf", `[{"minimum":0,"type":"integer"},{"pattern":` + mustJSON(config.SizePattern) + `,"type":"string"}]`},
		{"server.readTimeout", "oneOf", `[{"const":0,"type":"integer"},{"pattern":` + mustJSON(config.DurationPattern) + `,"type":"string"}]`},
		{"server.address", "pattern", mustJSON(config.AddressPattern)},
		{"process.mode", "enum", `["reexec","supervisor"]`},
		{"process.restartSignal", "enum", `["SIGHUP","SIGUSR1","SIGUSR2"]`},
		{"process.maxGenerations", "minimum", `2`},
		{"log.level", "enum", `["debug","info","warn","error"]`},
		{"log.format", "enum", `["text","json"]`},
		{"server", "dependentRequired", `{"certFile":["keyFile"],"httpsAddress":["certFile","keyFile"],"keyFile":["certFile"]}`},
	} {
		if got := mustJSON(prop(c.path)[c.field]); got != c.want {
			t.Errorf("%s %s = %s\nwant %s", c.path, c.field, got, c.want)
		}
	}
}

func TestValidateProblems(t *testing.T) {
	for _, c := range []struct {
		name, doc string
		want      []string
	}{
		{"a.yaml", "# c\nserver:\n  maxHeaderBytes: -1\n  colour: red\nlog:\n  level: loud\n", []string{
			`3 /server/maxHeaderBytes server.maxHeaderBytes: matches none of the accepted forms: minimum: got -1, want 0; or got number, want string`,
			`4 /server/colour server.colour: is not allowed here: the schema has no such key`,
			`6 /log/level log.level: value must be one of 'debug', 'info', 'warn', 'error'`,
		}},
		{"a.json", "{\n  \"process\": {\n    \"maxGenerations\": 1\n  }\n}", []string{
			`3 /process/maxGenerations process.maxGenerations: minimum: got 1, want 2`,
		}},
		{"a.toml", "[server]\nkeepAlive = \"yes\"\n", []string{
			`2 /server/keepAlive server.keepAlive: got string, want boolean`,
		}},
		{"a.yaml", "server:\n  readTimeout: .nan\n", []string{
			`2 /server/readTimeout server.readTimeout: NaN is not a number JSON can hold`,
		}},
		{"a.yaml", "server: [\n", []string{
			`1  : not valid YAML: the "[" at column 9 starts a list that is never closed: end it with "]", or put the value in quotes if the "[" is part of the text`,
		}},
		{"a.yml", "", nil},
		{"a.yaml", "server:\n  certFile: c.pem\n", []string{
			`1 /server server: properties 'keyFile' required, if 'certFile' exists`,
			`1 /server/keyFile server.keyFile: is required, and the document does not write it`,
		}},
	} {
		ps, err := schema.Validate(c.name, []byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, strings.Join([]string{itoa(p.Line), p.Pointer, p.Key + ":"}, " ")+" "+p.Message)
		}
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s %q:\ngot:\n\t%s\nwant:\n\t%s", c.name, c.doc, strings.Join(got, "\n\t"), strings.Join(c.want, "\n\t"))
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// A program's own configuration, for Generate. The types are exported:
// invopop reads the comments of exported types only.
type UserSection struct {
	// Port the admin server listens on.
	Port uint16 `koanf:"port"`
	// Pause between two sweeps.
	Every time.Duration `koanf:"every"`
	// Log level of the sweeper.
	Level slog.Level `koanf:"level"`
	// Names to greet.
	Names []string `koanf:"names"`
	// Largest file kept.
	Keep config.Size `koanf:"keep"`
	// Password of the sweeper's database.
	Password string `koanf:"password" secret:"true"`
	// URL of the admin service, which a configuration must name.
	AdminURL string `koanf:"adminURL" jsonschema:"required"`
}

type UserConfig struct {
	config.Config `koanf:",squash"`
	// The sweeper's settings.
	Sweep UserSection `koanf:"sweep"`
}

func TestGenerateUserType(t *testing.T) {
	// The types are in the external test package, whose import path
	// reflect reports with _test.
	comments, err := schema.GoComments("github.com/gracekit/gracekit/schema_test", ".")
	if err != nil {
		t.Fatal(err)
	}
	cfg := UserConfig{Config: config.Default(), Sweep: UserSection{Port: 9000, Every: time.Minute, Names: []string{"a"}, Keep: 1 << 20, Password: "hunter2-default"}}
	out, err := schema.Generate(cfg, schema.Options{ID: "https://example.com/app.schema.json", Title: "app", Comments: comments})
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(out, &root); err != nil {
		t.Fatal(err)
	}
	sweep := root["properties"].(map[string]any)["sweep"].(map[string]any)
	got, _ := json.Marshal(sweep)
	for _, want := range []string{
		`"description":"The sweeper's settings."`,
		`"port":{"default":9000,"description":"Port the admin server listens on.","maximum":65535,"minimum":0,"type":"integer"}`,
		`"level":{"default":"INFO","description":"Log level of the sweeper.","type":"string"}`,
		`"names":{"default":["a"],"description":"Names to greet.","items":{"type":"string"},"type":"array"}`,
		`"default":"1m0s","description":"Pause between two sweeps."`,
		`"default":1048576,"description":"Largest file kept."`,
		`"password":{"description":"Password of the sweeper's database.","type":"string","writeOnly":true}`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("sweep schema lacks %s:\n%s", want, got)
		}
	}
	if _, ok := root["properties"].(map[string]any)["server"].(map[string]any)["dependentRequired"]; !ok {
		t.Error("the embedded server section lost its dependentRequired")
	}
	if strings.Contains(string(out), "hunter2") {
		t.Error("the schema shows a secret's default")
	}
	if got, want := fmt.Sprint(sweep["required"]), "[adminURL]"; got != want {
		t.Errorf("sweep.required = %s, want %s", got, want)
	}
	if got, want := fmt.Sprint(root["required"]), "[sweep]"; got != want {
		t.Errorf("required = %s, want %s: the section above a required key is required too", got, want)
	}
	v, err := schema.NewValidator(out)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := v.Validate("a.yaml", []byte("sweep:\n  port: 70000\n  every: 5s\n  adminURL: http://admin\n"))
	if err != nil || len(ps) != 1 || ps[0].Key != "sweep.port" || ps[0].Line != 2 {
		t.Errorf("validate with the user schema: %+v, %v", ps, err)
	}
	if _, err := schema.Generate(42, schema.Options{}); err == nil || !reflect.DeepEqual(err.Error(), "config: Keys needs a struct, got int") {
		t.Errorf("Generate(42): %v", err)
	}
}
