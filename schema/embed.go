package schema

import (
	_ "embed"
	"sync"
)

// ID is the $id of gracekit's schema: where the committed file can be
// fetched from.
const ID = "https://raw.githubusercontent.com/gracekit/gracekit/main/schema/gracekit.schema.json"

// Title and Description describe gracekit's configuration file in its
// schema.
const (
	Title       = "gracekit configuration"
	Description = "Configuration file of a gracekit server, in YAML, JSON or TOML: the HTTP server, its zero-downtime restarts and its logging. Every key is optional. GRACEKIT_ environment variables (GRACEKIT_SERVER_MAX_HEADER_BYTES for server.maxHeaderBytes) and flags named after the key paths override the file."
)

//go:embed gracekit.schema.json
var gracekitJSON []byte

// JSON returns gracekit's schema as committed in gracekit.schema.json.
func JSON() []byte { return append([]byte(nil), gracekitJSON...) }

// gracekit compiles gracekit's schema once.
var gracekit = sync.OnceValues(func() (*Validator, error) { return NewValidator(gracekitJSON) })
