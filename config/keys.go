package config

import (
	"fmt"
	"reflect"
)

// Key describes one setting of a configuration struct, as [Load] reads it.
// The schema generator and the documentation are built from these.
type Key struct {
	// Path is the key path, such as "server.maxHeaderBytes".
	Path string
	// Env is the environment variable that sets the key, with the prefix
	// given to [Keys].
	Env string
	// Kind names the type of value for people: "string", "boolean",
	// "integer", "number", "size", "duration", "text" or "list of ...".
	Kind string
	// Value is the setting's value in the struct given to Keys, in the
	// form a configuration file writes it and JSON can hold: sizes as
	// numbers of bytes, durations as strings such as "1m0s". It is nil
	// for a secret.
	Value any
	// Secret is true for a setting tagged secret (see [SecretTag]).
	Secret bool
	// Required is true for a setting a source must set (see
	// [RequiredTag]).
	Required bool
	// Type is the Go type of the field, Struct the struct type that
	// declares it and Field its Go name.
	Type   reflect.Type
	Struct reflect.Type
	Field  string
}

// Keys lists the settings of cfg (a struct or a pointer to one) in the
// order of the struct's fields, each section before the keys inside it,
// with their current values and the names of their environment variables
// under envPrefix (such as [DefaultEnvPrefix]). Sections have the Kind
// "section", no Value and no Env.
func Keys(cfg any, envPrefix string) ([]Key, error) {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: Keys needs a struct, got %T", cfg)
	}
	model, err := buildModel(v.Type())
	if err != nil {
		return nil, err
	}
	if _, err := envNames(model, envPrefix); err != nil {
		return nil, err
	}
	var out []Key
	var walk func(sec *node)
	walk = func(sec *node) {
		for _, n := range sec.children {
			k := Key{Path: n.dotted(), Kind: kindName(n), Type: n.typ, Struct: n.owner, Field: n.field}
			if n.kind != kindSection {
				k.Env = envName(envPrefix, n.path)
				k.Secret = n.secret
				k.Required = n.required
				if !n.secret {
					k.Value = fileValue(n, fieldValue(v, n, model))
				}
			}
			out = append(out, k)
			if n.kind == kindSection {
				walk(n)
			}
		}
	}
	walk(model)
	return out, nil
}

// kindName names the kind of a setting for people.
func kindName(n *node) string {
	switch n.kind {
	case kindString:
		return "string"
	case kindBool:
		return "boolean"
	case kindInt, kindUint:
		return "integer"
	case kindFloat:
		return "number"
	case kindSize:
		return "size"
	case kindDuration:
		return "duration"
	case kindText:
		return "text"
	case kindList:
		return "list of " + kindName(n.elem)
	}
	return "section"
}
