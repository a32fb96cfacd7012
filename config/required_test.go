package config

import (
	"testing"

	"github.com/spf13/pflag"
)

type requiredUpstream struct {
	URL     string `koanf:"url" jsonschema:"required"`
	Token   string `koanf:"token" secret:"true" jsonschema:"description=the token,required"`
	Retries int    `koanf:"retries"`
}

type requiredConfig struct {
	Upstream requiredUpstream `koanf:"upstream"`
}

// TestRequiredKeys checks that a key tagged jsonschema:"required" must be
// set by a source, its default not counting, and that a file that writes
// it, even empty, sets it.
func TestRequiredKeys(t *testing.T) {
	defaults := requiredConfig{Upstream: requiredUpstream{URL: "http://default", Token: "default-token"}}
	cfg := defaults
	err := Load(&cfg, withDocument("a.yaml", "yaml", []byte("upstream:\n  retries: 3\n")), WithEnviron(nil))
	sameLines(t, "problems", errorLines(t, err), []string{
		`upstream.token: is required, and nothing sets it: set GRACEKIT_UPSTREAM_TOKEN_FILE to a file that holds it, or GRACEKIT_UPSTREAM_TOKEN`,
		`upstream.url: is required, and nothing sets it: write it in the configuration file, or set GRACEKIT_UPSTREAM_URL`,
	})
	if cfg != defaults {
		t.Error("a failed Load changed cfg")
	}

	// Each source sets them: a file (even to ""), the environment, a flag.
	if err := Load(&cfg, withDocument("a.yaml", "yaml", []byte("upstream:\n  url: \"\"\n  token: t\n")), WithEnviron(nil)); err != nil {
		t.Errorf("a file that writes them: %v", err)
	}
	cfg = defaults
	if err := Load(&cfg, WithEnviron([]string{"GRACEKIT_UPSTREAM_URL=http://env", "GRACEKIT_UPSTREAM_TOKEN_FILE=" + writeFile(t, "token", "secret\n")})); err != nil || cfg.Upstream.URL != "http://env" || cfg.Upstream.Token != "secret" {
		t.Errorf("the environment: %v, %+v", err, cfg)
	}
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	if err := AddFlags(fs, defaults, nil); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--upstream.url=http://flag"}); err != nil {
		t.Fatal(err)
	}
	cfg = defaults
	if err := Load(&cfg, WithFlags(fs), WithEnviron([]string{"GRACEKIT_UPSTREAM_TOKEN=t"})); err != nil || cfg.Upstream.URL != "http://flag" {
		t.Errorf("a flag: %v, %+v", err, cfg)
	}

	// A file that cannot be parsed reports itself alone.
	err = Load(&cfg, withDocument("a.yaml", "yaml", []byte("upstream:\n\turl: x\n")), WithEnviron(nil))
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Key != "" {
		t.Errorf("problems %v, want the syntax error alone", ps)
	}
	// A value that was refused is not also reported missing.
	err = Load(&cfg, withDocument("a.yaml", "yaml", []byte("upstream:\n  url: [x]\n  token: t\n")), WithEnviron(nil))
	sameLines(t, "problems", keyMessages(problemsOf(t, err)), []string{`upstream.url: the value is a list, not a string: quote it`})
}

func TestRequiredTagMistakes(t *testing.T) {
	type section struct {
		Inner struct{ A string } `koanf:"inner" jsonschema:"required"`
	}
	if err := Load(&section{}, WithoutEnv()); err == nil || err.Error() != `config: field config.section.Inner: jsonschema:"required" marks a setting, not a section: mark the keys inside it that a configuration must set` {
		t.Errorf("a required section: %v", err)
	}
}
