package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

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

	// Token the example would send to the upstream service: a file that
	// holds it (a mounted Kubernetes or Docker secret) is best named by
	// GRACEKIT_APP_API_TOKEN_FILE.
	APIToken string `koanf:"apiToken" secret:"true"`

	// The service this example reports to on GET /upstream.
	Upstream Upstream `koanf:"upstream"`
}

// Upstream names the service the example talks to.
type Upstream struct {
	// Base URL of the upstream service, such as
	// "https://api.example.com", or "" for none.
	URL string `koanf:"url" jsonschema:"required"`

	// Longest time one call to the upstream service may take.
	Timeout config.Duration `koanf:"timeout"`
}

// DefaultAppConfig returns the example's configuration when nothing else
// is said: gracekit's defaults and a friendly greeting.
func DefaultAppConfig() AppConfig {
	return AppConfig{
		Config: config.Default(),
		App: App{
			Greeting:      "hello from gracekit",
			MaxUploadSize: 1 << 20,
			Upstream:      Upstream{Timeout: config.Duration(5 * time.Second)},
		},
	}
}

// Validate refuses an empty greeting: config.Load calls it after reading
// every source, and gen validate runs it on the files it checks.
func (a App) Validate() []config.Problem {
	if strings.TrimSpace(a.Greeting) == "" {
		return []config.Problem{{Key: "greeting", Message: "the greeting is empty: write what GET / should answer"}}
	}
	return nil
}

// Validate checks that the upstream URL, when there is one, is an
// absolute http or https URL.
func (u Upstream) Validate() []config.Problem {
	if u.URL == "" {
		return nil
	}
	p, err := url.Parse(u.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return []config.Problem{{Key: "url", Message: fmt.Sprintf("%q is not an http or https URL: write it with its scheme and host, such as \"https://api.example.com\", or \"\" for none", u.URL)}}
	}
	return nil
}
