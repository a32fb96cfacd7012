package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestServiceLinksDebugLine checks that the service links Load ignores are
// named in one debug line of the logger given with WithLogger.
func TestServiceLinksDebugLine(t *testing.T) {
	env := append(serviceLinks("GRACEKIT"), serviceLinks("GRACEKIT_DB")...)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := Default()
	if err := Load(&cfg, WithEnviron(env), WithLogger(logger)); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(logs.String(), "\n"); got != 1 || !strings.Contains(logs.String(), "level=DEBUG") ||
		!strings.Contains(logs.String(), "GRACEKIT_PORT") || !strings.Contains(logs.String(), "GRACEKIT_DB_SERVICE_HOST") {
		t.Errorf("want one debug line naming the variables, got %d:\n%s", got, logs.String())
	}
}

// TestKeysTellSecretsAndRequiredKeys checks what Keys says about the
// tags, for the schema generator and the docs: no value for a secret.
func TestKeysTellSecretsAndRequiredKeys(t *testing.T) {
	keys, err := Keys(requiredConfig{Upstream: requiredUpstream{Token: "tok-0123456789"}}, DefaultEnvPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if want := k.Path == "upstream.url" || k.Path == "upstream.token"; k.Required != want {
			t.Errorf("Keys: %s has Required %v", k.Path, k.Required)
		}
		if want := k.Path == "upstream.token"; k.Secret != want || (k.Secret && k.Value != nil) {
			t.Errorf("Keys: %+v", k)
		}
	}
}
