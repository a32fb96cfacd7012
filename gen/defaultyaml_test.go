package main

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDefaultYAMLSecrets checks that the default file never writes a
// secret's value: a secret is commented out, but a required one is written
// empty, so that the file still sets it and passes the program.
func TestDefaultYAMLSecrets(t *testing.T) {
	entries := []entry{
		{keyInfo: keyInfo{Path: "app", Kind: "section"}, Description: "The app."},
		{keyInfo: keyInfo{Path: "app.token", Env: "APP_TOKEN", Kind: "string", Secret: true}, Description: "A token."},
		{keyInfo: keyInfo{Path: "app.key", Env: "APP_KEY", Kind: "string", Secret: true, Required: true}, Description: "A key."},
		{keyInfo: keyInfo{Path: "app.url", Env: "APP_URL", Kind: "string", Value: "", Required: true}, Description: "A URL."},
	}
	out := string(renderDefaultYAML(entries, "app.schema.json", "Defaults."))
	for _, want := range []string{
		"  # A token.\n  # token is a secret: set APP_TOKEN_FILE or APP_TOKEN\n",
		"  # A key. Required: a configuration sets it (its default does not count).\n  key: \"\"  # a secret: set APP_KEY_FILE or APP_KEY\n",
		"  url: \"\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the default file lacks %q:\n%s", want, out)
		}
	}
	var doc map[string]map[string]any
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil || len(doc["app"]) != 2 {
		t.Errorf("the default file is not the YAML it should be (%v): %v", err, doc)
	}
}
