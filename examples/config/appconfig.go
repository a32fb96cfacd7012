package main

import (
	"strings"

	"github.com/gracekit/gracekit/config"
)

// The schema of AppConfig, for editors and "gen validate". Inside the
// gracekit repository the generator is ../../gen; in a program of yours,
// write github.com/gracekit/gracekit/gen instead.
//go:generate go run ../../gen schema -type AppConfig -defaults DefaultAppConfig -out app.schema.json -docs app.md -yaml app.default.yaml

// AppConfig is the configuration of this example: gracekit's sections
// (server, process, log) next to a section of the program's own.
type AppConfig struct {
	config.Config `koanf:",squash"`

	// Settings of the example application itself.
	App App `koanf:"app"`
}

// App holds the example application's own settings.
type App struct {
	// Text the server answers to GET /.
	Greeting string `koanf:"greeting"`

	// Largest request body POST /upload accepts; a larger one gets "413
	// Request Entity Too Large". A number of bytes or a size such as
	// "10MiB" or "1m" (1000000 bytes).
	MaxUploadSize config.Size `koanf:"maxUploadSize"`
}

// DefaultAppConfig returns the example's configuration when nothing else
// is said: gracekit's defaults and a friendly greeting.
func DefaultAppConfig() AppConfig {
	return AppConfig{
		Config: config.Default(),
		App: App{
			Greeting:      "hello from gracekit",
			MaxUploadSize: 1 << 20,
		},
	}
}

// Validate refuses an empty greeting: config.Load calls it after reading
// every source.
func (a App) Validate() []config.Problem {
	if strings.TrimSpace(a.Greeting) == "" {
		return []config.Problem{{Key: "greeting", Message: "the greeting is empty: write what GET / should answer"}}
	}
	return nil
}
