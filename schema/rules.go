package schema

import (
	"github.com/invopop/jsonschema"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
)

// fieldExtra returns what to add to the schema of a gracekit setting that
// its Go type cannot say: the enums and patterns that the sections'
// Validate methods check, and examples. It is keyed by "Type.Field" in the
// config package, so that it applies wherever a program embeds the
// sections; it returns nil for other fields.
func fieldExtra(name string) func(*jsonschema.Schema) {
	return map[string]func(*jsonschema.Schema){
		"Server.Address": func(s *jsonschema.Schema) {
			s.Pattern = config.AddressPattern
			s.Examples = []any{"127.0.0.1:8080", ":8080", ":0", "[::1]:8080", "unix:/run/app.sock"}
		},
		"Server.HTTPSAddress": func(s *jsonschema.Schema) {
			s.Pattern = emptyOr(config.AddressPattern)
			s.Examples = []any{"", ":8443", "0.0.0.0:443"}
		},
		"Server.CertFile": func(s *jsonschema.Schema) { s.Examples = []any{"/etc/ssl/app/cert.pem"} },
		"Server.KeyFile":  func(s *jsonschema.Schema) { s.Examples = []any{"/etc/ssl/app/key.pem"} },
		"Server.UnixSocketMode": func(s *jsonschema.Schema) {
			s.Pattern = emptyOr(config.SocketModePattern)
			s.Examples = []any{"", "0660", "0600"}
		},
		"Server.UnixSocketGroup": func(s *jsonschema.Schema) { s.Examples = []any{"", "www-data", "33"} },
		"Process.Mode": func(s *jsonschema.Schema) {
			for _, m := range graceful.RestartModes() {
				s.Enum = append(s.Enum, string(m))
			}
		},
		"Process.RestartSignal": func(s *jsonschema.Schema) {
			for _, n := range graceful.RestartSignalNames() {
				s.Enum = append(s.Enum, n)
			}
		},
		"Process.MaxGenerations": func(s *jsonschema.Schema) { s.Minimum = "2" },
		"Process.PIDFile":        func(s *jsonschema.Schema) { s.Examples = []any{"/run/app.pid"} },
		"Process.ReadinessPath": func(s *jsonschema.Schema) {
			s.Pattern = urlPathPattern
			s.Examples = []any{"", "/ready"}
		},
		"Process.LivenessPath": func(s *jsonschema.Schema) {
			s.Pattern = urlPathPattern
			s.Examples = []any{"", "/live"}
		},
		"Process.MetricsPath": func(s *jsonschema.Schema) {
			s.Pattern = urlPathPattern
			s.Examples = []any{"", "/metrics"}
		},
		"Log.Level": func(s *jsonschema.Schema) {
			for _, l := range config.LogLevels() {
				s.Enum = append(s.Enum, l)
			}
		},
		"Log.Format": func(s *jsonschema.Schema) {
			for _, f := range config.LogFormats() {
				s.Enum = append(s.Enum, f)
			}
		},
	}[name]
}

// urlPathPattern matches what config.Load takes as an endpoint's path:
// empty, or segments of letters, digits and -._~!$&'()*+,;=:@ after each
// "/" (none empty, "." or ".."), with an optional final "/"; so not "/"
// alone.
const urlPathPattern = `^(?:(?:/(?:[A-Za-z0-9\-_~!$&'()*+,;=:@][A-Za-z0-9\-_~!$&'()*+,;=:@.]*|\.[A-Za-z0-9\-_~!$&'()*+,;=:@][A-Za-z0-9\-_~!$&'()*+,;=:@.]*|\.\.[A-Za-z0-9\-_~!$&'()*+,;=:@.]+))+/?)?$`

// emptyOr makes a pattern that also matches the empty string.
func emptyOr(pattern string) string {
	return `^$|` + pattern
}

// serverRules states the rules that tie the TLS settings together, in the
// two forms the loader checks: a file that writes one of certFile, keyFile
// and httpsAddress writes the others it needs (dependentRequired), and
// non-empty values need non-empty partners (if/then).
func serverRules(s *jsonschema.Schema) {
	s.DependentRequired = map[string][]string{
		"certFile":     {"keyFile"},
		"keyFile":      {"certFile"},
		"httpsAddress": {"certFile", "keyFile"},
	}
	nonEmpty := func(keys ...string) *jsonschema.Schema {
		props := jsonschema.NewProperties()
		one := uint64(1)
		for _, k := range keys {
			props.Set(k, &jsonschema.Schema{Type: "string", MinLength: &one})
		}
		return &jsonschema.Schema{Type: "object", Properties: props, Required: keys}
	}
	s.AllOf = []*jsonschema.Schema{
		{If: nonEmpty("httpsAddress"), Then: nonEmpty("certFile", "keyFile")},
		{If: nonEmpty("certFile"), Then: nonEmpty("keyFile")},
		{If: nonEmpty("keyFile"), Then: nonEmpty("certFile")},
	}
}
