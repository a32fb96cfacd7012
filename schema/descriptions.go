package schema

import (
	"encoding/json"
	"fmt"
)

// Descriptions returns the description of every property of a JSON
// Schema, by key path ("server.maxHeaderBytes"): for a schema that gen
// generated, the doc comments of the fields. It is the usage text
// config.AddFlags and config.AddGoFlags take:
//
//	//go:embed app.schema.json
//	var appSchema []byte
//
//	usage, err := schema.Descriptions(appSchema)
//	...
//	err = config.AddGoFlags(fs, DefaultAppConfig(), usage)
func Descriptions(schemaJSON []byte) (map[string]string, error) {
	var root map[string]any
	if err := json.Unmarshal(schemaJSON, &root); err != nil {
		return nil, fmt.Errorf("schema: read the descriptions: %w", err)
	}
	out := map[string]string{}
	var walk func(node map[string]any, prefix string)
	walk = func(node map[string]any, prefix string) {
		props, _ := node["properties"].(map[string]any)
		for k, v := range props {
			p, _ := v.(map[string]any)
			path := prefix + k
			if d, ok := p["description"].(string); ok {
				out[path] = d
			}
			walk(p, path+".")
		}
	}
	walk(root, "")
	return out, nil
}
