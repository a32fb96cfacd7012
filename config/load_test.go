package config

import (
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// errorLines returns the problems of a Load error as their full Error()
// text: "source:line: key: message".
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	ps := problemsOf(t, err)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Error()
	}
	return out
}

func TestProblemsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "a.yaml")
	jsonPath := filepath.Join(dir, "b.json")
	tomlPath := filepath.Join(dir, "c.toml")
	os.WriteFile(yamlPath, []byte("# comment\nserver:\n  keepAlive: on\n\n  readTimeout: 30x\nlog:\n  level: verbose\n"), 0o600)
	os.WriteFile(jsonPath, []byte("{\n  \"server\": {\n    \"maxHeaderBytes\": \"1.5\"\n  },\n  \"process\": {\"mode\": \"x\"}\n}\n"), 0o600)
	os.WriteFile(tomlPath, []byte("[server]\nidleTimeout = -1\n\n[process]\nmaxGenerations = 1\n"), 0o600)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("server.hijackedGrace", "", "")
	if err := fs.Parse([]string{"--server.hijackedGrace=soon"}); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	err := Load(&cfg, WithFiles(yamlPath, jsonPath, tomlPath), WithFlags(fs),
		WithEnviron([]string{"GRACEKIT_LOG_FORMAT=yaml", "HOME=/root"}))
	sameLines(t, "problems", errorLines(t, err), []string{
		yamlPath + `:3: server.keepAlive: "on" is a string, not a boolean: write true or false`,
		yamlPath + `:5: server.readTimeout: "30x" has an unknown unit "x": use ns, us, ms, s, m or h, as in "1m30s"`,
		yamlPath + `:7: log.level: "verbose" is not a log level: use "debug", "info", "warn" or "error"`,
		jsonPath + `:3: server.maxHeaderBytes: "1.5" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`,
		jsonPath + `:5: process.mode: "x" is not a restart mode: use "reexec" or "supervisor"`,
		tomlPath + `:2: server.idleTimeout: -1 is negative: a duration is 0 or more`,
		tomlPath + `:5: process.maxGenerations: 1 is too few: at least 2 generations (the serving one and one draining) must be allowed`,
		`env GRACEKIT_LOG_FORMAT: log.format: "yaml" is not a log format: use "text" or "json"`,
		`flag --server.hijackedGrace: server.hijackedGrace: "soon" is not a duration: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`,
	})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal("not an *Error")
	}
	p := e.Problems[0]
	if p.Key != "server.keepAlive" || p.Value != `"on"` || p.Source != yamlPath || p.Line != 3 {
		t.Errorf("first problem fields = %+v", p)
	}
	if !strings.HasPrefix(err.Error(), "invalid configuration: 9 problems:\n\t"+yamlPath+":3: ") {
		t.Errorf("Error() starts %q", err.Error()[:80])
	}
}

func TestFileProblems(t *testing.T) {
	for _, c := range []struct {
		name, file, content, want string
	}{
		{"yaml syntax", "a.yaml", "server:\n  address: [\n", `:2: not valid YAML: the "[" at column 12 starts a list that is never closed: end it with "]", or put the value in quotes if the "[" is part of the text`},
		{"yaml list", "a.yaml", "- a\n- b\n", `:1: the file holds a list: a YAML configuration file holds a mapping of keys, such as "server:"`},
		{"yaml duplicate", "a.yaml", "log:\n  level: info\n  level: warn\n", `:3: log.level: the key "level" is written twice in the same mapping (lines 2 and 3): keep one`},
		{"json syntax", "a.json", "{\n  \"server\": {,}\n}", `:2: not valid JSON: invalid character ',' looking for beginning of object key string`},
		{"json array", "a.json", "[1]", `:1: the file holds a JSON array: a JSON configuration file holds an object, such as {"server": {}}`},
		{"nul byte", "a.yaml", "server:\n  address: \":8\x001\"\n", `:2: the file holds a NUL byte at line 2, column 15: a configuration file is text`},
		{"not utf-8", "a.json", "{\"server\":\n {\"address\": \":8\xff1\"}}", `:2: the file holds a byte that is not UTF-8 (0xff) at line 2, column 17: save the file as UTF-8`},
		{"toml number beyond float64", "a.toml", "[server]\nmaxHeaderBytes = 1e400\n", `:2: not valid TOML here: the number is beyond the range of any number of its kind (a whole number up to 9223372036854775807, a fraction up to about 1.8e308): write a number that fits the setting`},
		{"json number beyond float64", "a.json", "{\"server\":\n {\"maxHeaderBytes\": 1e400}}", `:2: not valid JSON here: the number 1e400 is beyond the range of any number (about 1.8e308): write a number that fits the setting`},
		{"json null", "a.json", "null", `:1: the file holds null: a JSON configuration file holds an object, such as {"server": {}}`},
		{"json duplicate", "a.json", "{\"log\": {\"level\": \"info\",\n \"level\": \"warn\"}}", `:2: log.level: the key "level" is written twice in the same object (lines 1 and 2): keep one`},
		{"toml syntax", "a.toml", "[server]\naddress = \n", `:2: not valid TOML: toml: incomplete number`},
		{"unknown extension", "a.ini", "x=1", `: unknown file format: name the file .yaml, .yml, .json or .toml`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.file, c.content)
			cfg := Default()
			sameLines(t, "problems", errorLines(t, Load(&cfg, WithFiles(path), WithoutEnv())), []string{path + c.want})
		})
	}
	cfg := Default()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	sameLines(t, "missing file", errorLines(t, Load(&cfg, WithFiles(missing), WithoutEnv())),
		[]string{missing + ": cannot read the file: open " + missing + ": no such file or directory"})
}

// TestAByteOrderMarkBeforeJSONOrTOML: a byte order mark, as some editors
// write one before the text, is taken before JSON and TOML as it is
// before YAML.
func TestAByteOrderMarkBeforeJSONOrTOML(t *testing.T) {
	for name, content := range map[string]string{
		"a.json": "\ufeff{\"server\": {\"address\": \":81\"}}",
		"a.toml": "\ufeff[server]\naddress = \":81\"\n",
		"a.yaml": "\ufeffserver:\n  address: \":81\"\n",
	} {
		cfg := Default()
		if err := Load(&cfg, WithFiles(writeFile(t, name, content)), WithoutEnv()); err != nil || cfg.Server.Address != ":81" {
			t.Errorf("%s: address %q, %v", name, cfg.Server.Address, err)
		}
	}
}

func TestYAMLSpecifics(t *testing.T) {
	for _, c := range []struct {
		name, content string
		want          []string
	}{
		{"empty file", "", nil},
		{"comments only", "# nothing yet\n", nil},
		{"yes is a string", "server:\n  keepAlive: yes\n", []string{`:2: server.keepAlive: "yes" is a string, not a boolean: write true or false`}},
		{"null value", "server:\n  certFile:\n  keyFile: k.pem\n", []string{
			`:2: server.certFile: the value is empty (null), not a string: quote it`,
			`:3: server.keyFile: "k.pem" is set but certFile is empty: a private key needs its certificate; set both or neither`,
		}},
		{"null section", "server:\n", []string{`:1: server: the value is empty (null), not a section: write the keys of server under it (address, httpsAddress, certFile, keyFile, http3, readTimeout, readHeaderTimeout, writeTimeout, idleTimeout, gracefulShutdownTimeout, idleDrainGrace, idleDrainGraceMin, hijackedGrace, maxHeaderBytes, keepAlive, unixSocketMode, unixSocketGroup)`}},
		{"date", "process:\n  pidFile: 2024-01-02\n", []string{`:2: process.pidFile: 2024-01-02 is a date, not a string: quote it`}},
		{"number key", "server:\n  1: x\n", []string{`:1: server: the key 1 is a number: keys are names, such as address`}},
		{"anchor and merge", "base: &b\n  level: debug\nlog:\n  <<: *b\n  format: json\n", []string{`:1: base: unknown key; the top-level keys are server, process, log`}},
		{"sizes and durations", "server:\n  maxHeaderBytes: 10 KiB\n  readTimeout: 30s\n  gracefulShutdownTimeout: 0\n", nil},
		{"a bare number for a duration", "server:\n  readTimeout: 250\n", []string{`:2: server.readTimeout: 250 has no unit: write 250ms or 250s`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, "a.yaml", c.content)
			cfg := Default()
			var want []string
			for _, w := range c.want {
				want = append(want, path+w)
			}
			sameLines(t, "problems", errorLines(t, Load(&cfg, WithFiles(path), WithoutEnv())), want)
		})
	}
	cfg := Default()
	path := writeFile(t, "a.yaml", "server:\n  maxHeaderBytes: 10 KiB\n  readTimeout: 30s\n  gracefulShutdownTimeout: 0\n")
	if err := Load(&cfg, WithFiles(path), WithoutEnv()); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.MaxHeaderBytes != 10240 || cfg.Server.ReadTimeout != Duration(30*time.Second) || cfg.Server.GracefulShutdownTimeout != 0 {
		t.Errorf("got %+v", cfg.Server)
	}
}

func TestTOMLSpecifics(t *testing.T) {
	path := writeFile(t, "a.toml", "[process]\npidFile = 1979-05-27T07:32:00Z\n[server]\nmaxHeaderBytes = 9223372036854775807\nreadTimeout = 9223372037\n")
	cfg := Default()
	sameLines(t, "problems", errorLines(t, Load(&cfg, WithFiles(path), WithoutEnv())), []string{
		path + `:2: process.pidFile: 1979-05-27T07:32:00Z is a date, not a string: quote it`,
		path + `:5: server.readTimeout: 9223372037 has no unit: write 9223372037ms or 9223372037s`,
	})
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.yaml")
	second := filepath.Join(dir, "second.json")
	os.WriteFile(first, []byte("server:\n  address: ':1001'\n  readTimeout: 1s\n  idleTimeout: 1s\n  writeTimeout: 1s\nlog:\n  level: debug\n"), 0o600)
	os.WriteFile(second, []byte(`{"server": {"readTimeout": "2s", "idleTimeout": "2s", "writeTimeout": "2s"}}`), 0o600)
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("config", "", "the program's own flag, not a setting")
	fs.Duration("server.writeTimeout", 0, "")
	fs.Int("process.maxGenerations", 7, "not set on the command line")
	fs.String("server.maxHeaderBytes", "", "")
	fs.Bool("server.keepAlive", true, "")
	if err := fs.Parse([]string{"--config=x.yaml", "--server.writeTimeout=4s", "--server.maxHeaderBytes=1MiB", "--server.keepAlive=false"}); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	err := Load(&cfg, WithFiles(first, second), WithFlags(fs), WithEnviron([]string{
		"GRACEKIT_SERVER_IDLE_TIMEOUT=3s",
		"GRACEKIT_SERVER_WRITE_TIMEOUT=3s",
		"OTHER_THING=1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"address from the first file", cfg.Server.Address, ":1001"},
		{"readTimeout from the second file", cfg.Server.ReadTimeout, Duration(2 * time.Second)},
		{"idleTimeout from the environment, in seconds", cfg.Server.IdleTimeout, Duration(3 * time.Second)},
		{"writeTimeout from a Duration flag", cfg.Server.WriteTimeout, Duration(4 * time.Second)},
		{"maxHeaderBytes from a string flag", cfg.Server.MaxHeaderBytes, Size(1 << 20)},
		{"keepAlive from a bool flag", cfg.Server.KeepAlive, false},
		{"maxGenerations keeps its default: the flag was not set", cfg.Process.MaxGenerations, 3},
		{"level from the first file", cfg.Log.Level, "debug"},
		{"format keeps its default", cfg.Log.Format, "text"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestEnvPrefix(t *testing.T) {
	cfg := Default()
	env := []string{"APP_SERVER_ADDRESS=:2000", "GRACEKIT_SERVER_ADDRESS=:3000", "APP_NOTHING=1"}
	err := Load(&cfg, WithEnvPrefix("APP_"), WithEnviron(env))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env APP_NOTHING: no setting has this environment variable: the variables are named APP_ and the key path in upper case with underscores, such as APP_SERVER_MAX_HEADER_BYTES`,
	})
	cfg = Default()
	if err := Load(&cfg, WithEnvPrefix(""), WithEnviron([]string{"SERVER_ADDRESS=:4000", "PATH=/bin"})); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Address != ":4000" {
		t.Errorf("address = %q", cfg.Server.Address)
	}
	cfg = Default()
	t.Setenv("GRACEKIT_LOG_LEVEL", "error")
	if err := Load(&cfg); err != nil || cfg.Log.Level != "error" {
		t.Errorf("process environment: level %q, %v", cfg.Log.Level, err)
	}
	cfg = Default()
	if err := Load(&cfg, WithoutEnv()); err != nil || cfg.Log.Level != "info" {
		t.Errorf("WithoutEnv: level %q, %v", cfg.Log.Level, err)
	}
}

func TestUpperSnake(t *testing.T) {
	for in, want := range map[string]string{
		"maxHeaderBytes":  "MAX_HEADER_BYTES",
		"httpsAddress":    "HTTPS_ADDRESS",
		"pidFile":         "PID_FILE",
		"readHTTPTimeout": "READ_HTTP_TIMEOUT",
		"HTTPSAddress":    "HTTPS_ADDRESS",
		"ipv6Only":        "IPV6_ONLY",
		"level":           "LEVEL",
		"max-size":        "MAX_SIZE",
	} {
		if got := upperSnake(in); got != want {
			t.Errorf("upperSnake(%q) = %q, want %q", in, got, want)
		}
	}
}

// The example's kind of configuration: the gracekit sections next to the
// program's own.
type appSection struct {
	Greeting      string        `koanf:"greeting"`
	MaxUploadSize Size          `koanf:"maxUploadSize"`
	Cooldown      time.Duration `koanf:"cooldown"`
	Tags          []string      `koanf:"tags"`
	Ports         []uint16      `koanf:"ports"`
	Level         slog.Level    `koanf:"level"`
	Ratio         float64       `koanf:"ratio"`
	Internal      string        `koanf:"-"`
	hidden        int
}

func (a appSection) Validate() []Problem {
	if a.Greeting == "" {
		return []Problem{{Key: "greeting", Message: "the greeting is empty: write a few words"}}
	}
	return nil
}

type appConfig struct {
	Config `koanf:",squash"`
	App    appSection `koanf:"app"`
}

func TestUserConfig(t *testing.T) {
	def := appConfig{Config: Default(), App: appSection{Greeting: "hello", MaxUploadSize: 1 << 20, Tags: []string{"a", "b", "c"}, Internal: "kept", hidden: 7}}

	cfg := def
	path := writeFile(t, "app.yaml", "server:\n  address: ':9000'\napp:\n  greeting: hi\n  maxUploadSize: 5m\n  cooldown: 30s\n  tags: [x]\n  level: WARN\n  ratio: 1\n")
	if err := Load(&cfg, WithFiles(path), WithEnviron([]string{"GRACEKIT_APP_PORTS=80, 443", "GRACEKIT_APP_RATIO=0.5"})); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Address != ":9000" || cfg.App.Greeting != "hi" || cfg.App.MaxUploadSize != 5000000 ||
		cfg.App.Cooldown != 30*time.Second || len(cfg.App.Tags) != 1 || cfg.App.Tags[0] != "x" ||
		len(cfg.App.Ports) != 2 || cfg.App.Ports[1] != 443 || cfg.App.Level != slog.LevelWarn ||
		cfg.App.Ratio != 0.5 || cfg.App.Internal != "kept" || cfg.App.hidden != 7 {
		t.Errorf("got %+v", cfg.App)
	}
	if def.App.Tags[0] != "a" {
		t.Error("Load wrote into the defaults' slice")
	}

	cfg = def
	path = writeFile(t, "app.json", `{"app": {"greeting": "", "maxUploadSize": "-1", "ports": [80, 70000], "level": "LOUD", "color": 1}}`)
	err := Load(&cfg, WithFiles(path), WithEnviron([]string{"GRACEKIT_APP_COOLDOWN=1x", "GRACEKIT_APP_RATIO=NaN"}))
	sameLines(t, "problems", sortedByKeyOrder(problemsOf(t, err)), sorted([]string{
		`app.color: unknown key; the keys of app are greeting, maxUploadSize, cooldown, tags, ports, level, ratio`,
		`app.greeting: the greeting is empty: write a few words`,
		`app.level: "LOUD" is not a valid slog.Level: slog: level string "LOUD": unknown name`,
		`app.maxUploadSize: "-1" is negative: a size is 0 or more bytes`,
		`app.ports[1]: 70000 is too large: the largest value is 65535`,
		`app.cooldown: "1x" has an unknown unit "x": use ns, us, ms, s, m or h, as in "1m30s"`,
		`app.ratio: "NaN" is not a finite number: JSON cannot hold it, so write a number`,
	}))
	for _, p := range problemsOf(t, err) {
		if p.Key == "app.greeting" && (p.Source != path || p.Line != 1 || p.Value != `""`) {
			t.Errorf("Validator problem not placed: %#v", p)
		}
	}
	cfg = def
	path = writeFile(t, "app.yaml", "app:\n  ratio: .inf\n")
	sameLines(t, "problems", errorLines(t, Load(&cfg, WithFiles(path), WithoutEnv())), []string{
		path + `:2: app.ratio: +Inf is not a finite number: JSON cannot hold it, so write a number`,
	})
}

func TestBadTypes(t *testing.T) {
	type withChan struct {
		C chan int
	}
	type namedSquash struct {
		S Server `koanf:",squash"`
	}
	type embeddedWithName struct {
		Server `koanf:"srv"`
	}
	type envClash struct {
		A struct {
			B string `koanf:"b"`
		} `koanf:"a"`
		AB string `koanf:"aB"`
	}
	for _, c := range []struct {
		name string
		load func() error
		want string
	}{
		{"channel", func() error { var v withChan; return Load(&v, WithoutEnv()) }, "config: field config.withChan.C has type chan int, which a configuration file cannot hold"},
		{"named squash", func() error { var v namedSquash; return Load(&v, WithoutEnv()) }, "config: field config.namedSquash.S: ,squash works on embedded structs only; embed config.Server without a field name"},
		{"embedded with a name", func() error { var v embeddedWithName; return Load(&v, WithoutEnv()) }, `config: embedded field config.embeddedWithName.Server has the key name "srv": an embedded struct is squashed into its parent; make it a named field to give it a key`},
		{"environment clash", func() error { var v envClash; return Load(&v) }, "config: settings a.b and aB would both be set by the environment variable GRACEKIT_A_B: rename one of them"},
		{"not a struct", func() error { var v int; return Load(&v) }, "config: Load needs a pointer to a struct, got *int"},
	} {
		err := c.load()
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
		}
		var e *Error
		if errors.As(err, &e) {
			t.Errorf("%s: a mistake in the Go type is not an *Error", c.name)
		}
	}
}

func TestDecodeProblems(t *testing.T) {
	// The loader converts every value before mapstructure sees it, so its
	// errors only come from loader bugs; this checks they are reworded.
	type target struct {
		N int `koanf:"n"`
	}
	var v target
	model, err := buildModel(typeOf(v))
	if err != nil {
		t.Fatal(err)
	}
	out := valueOfPtr(&v)
	err = decode(model, out, out.Elem(), []map[string]any{{"n": "x"}})
	sameLines(t, "problems", keyMessages(decodeProblems(err)), []string{
		`n: cannot be stored: expected type "int", got "string"`,
	})
	err = decode(model, out, out.Elem(), []map[string]any{{"extra": 1}})
	sameLines(t, "problems", keyMessages(decodeProblems(err)), []string{
		`: unknown keys: extra`,
	})
}

func TestGoFlags(t *testing.T) {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.String("server.address", "", "")
	fs.Duration("server.readTimeout", 0, "")
	fs.Int("process.maxGenerations", 9, "")
	fs.Bool("server.keepAlive", true, "")
	fs.String("server.maxHeaderBytes", "", "")
	if err := fs.Parse([]string{"-config", "x.yaml", "-server.address=:7070", "-server.readTimeout", "2s", "-server.keepAlive=false", "-server.maxHeaderBytes=-1"}); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	err := Load(&cfg, WithGoFlags(fs), WithoutEnv())
	sameLines(t, "problems", errorLines(t, err), []string{
		`flag -server.maxHeaderBytes: server.maxHeaderBytes: "-1" is negative: a size is 0 or more bytes`,
	})
	fs.Set("server.maxHeaderBytes", "2KiB")
	if err := Load(&cfg, WithGoFlags(fs), WithoutEnv()); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Address != ":7070" || cfg.Server.ReadTimeout != Duration(2*time.Second) || cfg.Server.KeepAlive ||
		cfg.Process.MaxGenerations != 3 || cfg.Server.MaxHeaderBytes != 2048 {
		t.Errorf("got %+v %+v", cfg.Server, cfg.Process)
	}
}

func TestParseDocument(t *testing.T) {
	d, err := ParseDocument("a.yml", []byte("server:\n  address: ':1'\n"))
	if err != nil || d.Values["server"].(map[string]any)["address"] != ":1" {
		t.Fatalf("got %v, %v", d, err)
	}
	if line, col := d.Position("server", "address"); line != 2 || col != 3 {
		t.Errorf("server.address at %d:%d, want 2:3", line, col)
	}
	if d, err := ParseDocument("a.toml", nil); err != nil || d.Values == nil || len(d.Values) != 0 {
		t.Errorf("empty TOML: %v, %v", d, err)
	}
	_, err = ParseDocument("a.json", []byte("{\n\"a\": }"))
	sameLines(t, "problems", errorLines(t, err), []string{`a.json:2: not valid JSON: invalid character '}' looking for beginning of value`})
	_, err = ParseDocument("a.conf", nil)
	sameLines(t, "problems", errorLines(t, err), []string{`a.conf: unknown file format: name the file .yaml, .yml, .json or .toml`})
	// Load refuses a JSON key written twice, though JSON parsers keep the
	// last: so does ParseDocument (and with it gen validate).
	_, err = ParseDocument("a.json", []byte("{\"log\": {\"level\": \"info\",\n \"level\": \"debug\"}}"))
	sameLines(t, "problems", errorLines(t, err), []string{`a.json:2: log.level: the key "level" is written twice in the same object (lines 1 and 2): keep one`})
}

// TestMissingFileUnwraps checks that a program can tell a missing file
// from an invalid configuration.
func TestMissingFileUnwraps(t *testing.T) {
	cfg := Default()
	err := Load(&cfg, WithFiles(filepath.Join(t.TempDir(), "missing.yaml")), WithoutEnv())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	err = Load(&cfg, withDocument("a.yaml", "yaml", []byte("log:\n  level: loud\n")), WithoutEnv())
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an invalid file: %v", err)
	}
}
