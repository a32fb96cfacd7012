package main

import (
	"bytes"
	"fmt"
	"strings"
)

// renderDefaultYAML writes a configuration file with every key at its
// default value, each after its description as a comment. schemaRef is
// the schema's path relative to the file, for the YAML language server
// and gen validate; header says what the file is.
func renderDefaultYAML(entries []entry, schemaRef, header string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# yaml-language-server: $schema=%s\n#\n", schemaRef)
	for _, line := range wrap(header, 76) {
		fmt.Fprintf(&b, "# %s\n", line)
	}
	for _, e := range entries {
		depth := strings.Count(e.Path, ".")
		indent := strings.Repeat("  ", depth)
		name := e.Path[strings.LastIndex(e.Path, ".")+1:]
		if depth == 0 || e.Kind == "section" {
			b.WriteByte('\n')
		}
		desc := e.Description
		if e.Required {
			desc += " Required: a configuration sets it (its default does not count)."
		}
		for _, line := range wrap(desc, 76-len(indent)) {
			fmt.Fprintf(&b, "%s# %s\n", indent, line)
		}
		if e.Kind == "section" {
			fmt.Fprintf(&b, "%s%s:\n", indent, name)
			continue
		}
		if e.Secret {
			// Its value is never written, not even a default: a
			// secret belongs in the environment or a file of its own,
			// which override the file. A required one is written
			// empty, so that the file passes the program.
			if e.Required {
				fmt.Fprintf(&b, "%s%s: \"\"  # a secret: set %s_FILE or %s\n", indent, name, e.Env, e.Env)
			} else {
				fmt.Fprintf(&b, "%s# %s is a secret: set %s_FILE or %s\n", indent, name, e.Env, e.Env)
			}
			continue
		}
		fmt.Fprintf(&b, "%s%s: %s\n", indent, name, yamlValue(e))
	}
	return b.Bytes()
}
