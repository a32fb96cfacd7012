package config

import (
	"fmt"
	"strings"
	"unicode"
)

// DefaultEnvPrefix starts the names of the environment variables [Load]
// reads, unless [WithEnvPrefix] says otherwise.
const DefaultEnvPrefix = "GRACEKIT_"

// envName returns the environment variable that sets the key at path:
// the prefix, then each key in upper case with its words split by
// underscores, as in GRACEKIT_SERVER_MAX_HEADER_BYTES for
// server.maxHeaderBytes.
func envName(prefix string, path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		parts[i] = upperSnake(p)
	}
	return prefix + strings.Join(parts, "_")
}

// upperSnake turns a camelCase key into UPPER_SNAKE_CASE: maxHeaderBytes
// gives MAX_HEADER_BYTES, httpsAddress HTTPS_ADDRESS and readHTTPTimeout
// READ_HTTP_TIMEOUT.
func upperSnake(key string) string {
	r := []rune(key)
	var b strings.Builder
	for i, c := range r {
		if c == '-' || c == '_' {
			b.WriteByte('_')
			continue
		}
		if i > 0 && unicode.IsUpper(c) {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

// envNames maps every environment variable name to the path of the
// setting it sets. Two settings that would share a name are an error in
// the configuration type.
func envNames(model *node, prefix string) (map[string][]string, error) {
	names := map[string][]string{}
	var err error
	model.leaves(func(n *node) {
		name := envName(prefix, n.path)
		if other, ok := names[name]; ok && err == nil {
			err = fmt.Errorf("config: settings %s and %s would both be set by the environment variable %s: rename one of them", strings.Join(other, "."), n.dotted(), name)
		}
		names[name] = n.path
	})
	for name, path := range names {
		if other, ok := names[name+fileSuffix]; ok && err == nil {
			err = fmt.Errorf("config: the environment variable %s%s, which would hold the file of %s, is the variable of %s: rename one of them", name, fileSuffix, strings.Join(path, "."), strings.Join(other, "."))
		}
	}
	return names, err
}
