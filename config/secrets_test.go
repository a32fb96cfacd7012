package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "level")
	if err := os.WriteFile(secret, []byte("debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(dir, "size") // as a Windows editor writes it
	if err := os.WriteFile(crlf, []byte("\ufeff1MiB\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	env := []string{"GRACEKIT_LOG_LEVEL_FILE=" + secret, "GRACEKIT_SERVER_MAX_HEADER_BYTES_FILE=" + crlf}
	if err := Load(&cfg, WithEnviron(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Server.MaxHeaderBytes != 1<<20 {
		t.Errorf("level %q, maxHeaderBytes %d", cfg.Log.Level, cfg.Server.MaxHeaderBytes)
	}

	// Check does not print the secret.
	var out bytes.Buffer
	cfg = Default()
	if err := Check(&out, &cfg, WithEnviron(env)); err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(` +#`).ReplaceAllString(out.String(), " #")
	if !strings.Contains(got, `level: "(secret)" # read from `+secret+"; env GRACEKIT_LOG_LEVEL_FILE\n") || strings.Contains(got, "debug") {
		t.Errorf("Check output:\n%s", out.String())
	}

	missing := filepath.Join(dir, "missing")
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("lots"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("x"), MaxFileSize+1), 0o600)
	cfg = Default()
	err := Load(&cfg, WithEnviron([]string{
		"GRACEKIT_PROCESS_PID_FILE_FILE=" + missing,
		"GRACEKIT_PROCESS_MAX_GENERATIONS_FILE=" + bad,
		"GRACEKIT_LOG_FORMAT=json", "GRACEKIT_LOG_FORMAT_FILE=" + secret,
		"GRACEKIT_SERVER_ADDRESS_FILE=",
		"GRACEKIT_SERVER_KEY_FILE_FILE=" + big,
	}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env GRACEKIT_LOG_FORMAT_FILE: log.format: both GRACEKIT_LOG_FORMAT and GRACEKIT_LOG_FORMAT_FILE are set: set the value, or the file that holds it, not both`,
		`env GRACEKIT_PROCESS_MAX_GENERATIONS_FILE: process.maxGenerations: the content of ` + bad + ` is not a whole number`,
		`env GRACEKIT_PROCESS_PID_FILE_FILE: process.pidFile: cannot read the file that holds the value of process.pidFile: open ` + missing + `: no such file or directory`,
		`env GRACEKIT_SERVER_ADDRESS_FILE: server.address: the variable is empty: it names the file that holds the value of server.address, such as /run/secrets/server_address`,
		`env GRACEKIT_SERVER_KEY_FILE_FILE: server.keyFile: ` + big + `: the file is 128 KiB (131073 bytes), larger than the limit of 128 KiB (config.MaxFileSize): a configuration file holds settings, not data; split it, or move the data to a file of its own`,
	})
	if cfg != Default() {
		t.Error("a failed Load changed cfg")
	}

	// A value read from a file that a rule refuses is not quoted: the
	// file may hold a secret, whatever the setting.
	password := filepath.Join(dir, "password")
	if err := os.WriteFile(password, []byte("hunter2-db-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = Default()
	err = Load(&cfg, WithEnviron([]string{"GRACEKIT_LOG_LEVEL_FILE=" + password, "GRACEKIT_PROCESS_READINESS_PATH_FILE=" + password}))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "process.readinessPath") {
		t.Errorf("problems with values read from a file:\n%v", err)
	}
}

func TestSecretFileNameClash(t *testing.T) {
	type clash struct {
		Password     string `koanf:"password"`
		PasswordFile string `koanf:"passwordFile"`
	}
	cfg := clash{}
	err := Load(&cfg, WithEnviron(nil))
	if err == nil || !strings.Contains(err.Error(), "GRACEKIT_PASSWORD_FILE, which would hold the file of password, is the variable of passwordFile") {
		t.Errorf("got %v", err)
	}
}

// secretApp is a section with settings tagged secret.
type secretApp struct {
	APIToken string `koanf:"apiToken" secret:"true"`
	PIN      int    `koanf:"pin" secret:"true"`
	Greeting string `koanf:"greeting"`
}

// Validate quotes the token, as a careless rule might.
func (a secretApp) Validate() []Problem {
	if len(a.APIToken) < 12 {
		return []Problem{{Key: "apiToken", Message: fmt.Sprintf("%q is too short: a token has 12 characters or more", a.APIToken)}}
	}
	return nil
}

type secretConfig struct {
	App secretApp `koanf:"app"`
}

// TestSecretOnALineThatCannotBeParsed: a parser's message about a line
// that holds a secret setting would quote its value; the problem names
// the setting instead.
func TestSecretOnALineThatCannotBeParsed(t *testing.T) {
	for _, doc := range []string{
		"app:\n  apiToken: *Sup3rSecretTok\n",
		"app:\n  apiToken: Sup3r: SecretTok\n",
		"app:\n  \"apiToken\": [Sup3rSecretTok\n",
	} {
		path := writeFile(t, "app.yaml", doc)
		cfg := secretConfig{}
		err := Load(&cfg, WithFiles(path), WithoutEnv())
		if err == nil || strings.Contains(err.Error(), "Sup3r") || !strings.Contains(err.Error(), "on the line of apiToken, a secret setting") {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// TestSecretTag checks that a setting tagged secret is never shown: not in
// Check's and Describe's output, not in problems, not in Keys, and that
// it gets no flag.
func TestSecretTag(t *testing.T) {
	const token = "tok-0123456789abcdef"
	path := writeFile(t, "app.yaml", "app:\n  apiToken: "+token+"\n  greeting: hi\n")
	cfg := secretConfig{}
	var out bytes.Buffer
	if err := Check(&out, &cfg, WithFiles(path), WithEnviron([]string{"GRACEKIT_APP_PIN=1234"})); err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(` +#`).ReplaceAllString(out.String(), " #")
	for _, want := range []string{
		`  apiToken: "(secret)" # ` + path + `:2`,
		`  pin: "(secret)" # env GRACEKIT_APP_PIN`,
		`  greeting: "hi" # ` + path + `:3`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("Check output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, token) || strings.Contains(got, "1234") {
		t.Errorf("Check output shows a secret:\n%s", got)
	}
	out.Reset()
	if err := Describe(&out, cfg); err != nil || strings.Contains(out.String(), token) || !strings.Contains(out.String(), `apiToken: "(secret)"`) {
		t.Errorf("Describe: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := Describe(&out, secretConfig{}); err != nil || !strings.Contains(out.String(), `apiToken: ""`) {
		t.Errorf("Describe shows an empty secret as empty: %v\n%s", err, out.String())
	}

	// Problems name the key and the source, never the value.
	bad := secretConfig{}
	err := Load(&bad, WithEnviron([]string{"GRACEKIT_APP_PIN=pin-9876543", "GRACEKIT_APP_API_TOKEN=short-tok"}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env GRACEKIT_APP_API_TOKEN: app.apiToken: (secret) is too short: a token has 12 characters or more`,
		`env GRACEKIT_APP_PIN: app.pin: the value is not a whole number`,
	})
	err = Load(&bad, WithEnviron([]string{"GRACEKIT_APP_API_TOKEN=short-tok"}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env GRACEKIT_APP_API_TOKEN: app.apiToken: (secret) is too short: a token has 12 characters or more`,
	})
	yamlBad := writeFile(t, "bad.yaml", "app:\n  pin: [1, 2]\n  apiToken: 12345\n")
	err = Load(&bad, WithFiles(yamlBad), WithoutEnv())
	sameLines(t, "problems", errorLines(t, err), []string{
		yamlBad + `:2: app.pin: the value is a list, not a whole number: write a whole number`,
		yamlBad + `:3: app.apiToken: the value is a number, not a string: quote it`,
	})
	var ce *Error
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			if p.Value != "" {
				t.Errorf("problem %q has the value %q", p.Error(), p.Value)
			}
		}
	}

	// No flag, and a flag of the program's own named after it is refused.
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	if err := AddFlags(fs, secretConfig{}, nil); err != nil {
		t.Fatal(err)
	}
	if fs.Lookup("app.apiToken") != nil || fs.Lookup("app.pin") != nil || fs.Lookup("app.greeting") == nil {
		t.Error("AddFlags registered a flag for a secret, or none for app.greeting")
	}
	gfs := flag.NewFlagSet("t", flag.ContinueOnError)
	if err := AddGoFlags(gfs, secretConfig{}, nil); err != nil || gfs.Lookup("app.apiToken") != nil {
		t.Errorf("AddGoFlags registered a flag for a secret: %v", err)
	}
	fs.String("app.apiToken", "", "the program's own flag")
	if err := fs.Parse([]string{"--app.apiToken=" + token}); err != nil {
		t.Fatal(err)
	}
	err = Load(&secretConfig{}, WithFlags(fs), WithoutEnv())
	sameLines(t, "problems", errorLines(t, err), []string{
		`flag --app.apiToken: app.apiToken: app.apiToken is a secret, and every user of the machine can read a command line (ps): set GRACEKIT_APP_API_TOKEN_FILE to the path of a file that holds it, or GRACEKIT_APP_API_TOKEN`,
	})
}

func TestSecretTagMistakes(t *testing.T) {
	type yes struct {
		Token string `koanf:"token" secret:"yes"`
	}
	type section struct {
		Inner struct{ A string } `koanf:"inner" secret:"true"`
	}
	if err := Load(&yes{}, WithoutEnv()); err == nil || err.Error() != `config: field Token: the tag secret:"yes" means nothing: write secret:"true", or leave the tag out` {
		t.Errorf("secret:\"yes\": %v", err)
	}
	if err := Load(&section{}, WithoutEnv()); err == nil || !strings.Contains(err.Error(), `secret:"true" marks a setting, not a section`) {
		t.Errorf("a secret section: %v", err)
	}
}
