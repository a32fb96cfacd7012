// Package subjectcfg checks the config file of the bench's own subjects:
// it must be a YAML mapping. A subject that is given a broken file exits
// non-zero during its initialisation, as a real service would, which is
// what the "invalid config at restart" scenario provokes.
package subjectcfg

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Check reads path and reports whether it holds a YAML mapping. An empty
// path means no config file and is accepted.
func Check(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}
