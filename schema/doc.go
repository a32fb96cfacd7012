// Package schema generates and checks the JSON Schema of gracekit
// configuration files.
//
// The schema is generated from the Go types of the config package (their
// doc comments become the descriptions, config.Default the defaults) by
// the gen command, committed as gracekit.schema.json and embedded here.
// Editors use it to complete and check YAML files that start with
//
//	# yaml-language-server: $schema=https://raw.githubusercontent.com/gracekit/gracekit/main/schema/gracekit.schema.json
//
// and [Validate] checks YAML, JSON and TOML documents against it, giving
// the JSON pointer and the line of each problem. [Generate] makes the
// schema of a program's own configuration type, which embeds gracekit's
// sections next to its own.
//
// The schema describes only what config.Load accepts: every document the
// loader accepts is valid against it, and the loader refuses every
// document the schema rejects. The loader is stricter where a schema
// cannot say (a host part that is not a host, JSON keys written twice, a
// size that is not a whole number of bytes, and so on); [Validate] parses
// a document as the loader does, so it refuses JSON keys written twice
// too.
package schema

//go:generate go run ../gen schema
