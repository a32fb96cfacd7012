package main

import (
	"path/filepath"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

// The files gen writes for gracekit itself, relative to the module root.
const (
	schemaFile      = "schema/gracekit.schema.json"
	docsFile        = "docs/config.md"
	defaultYAMLFile = "examples/config/default.yaml"
)

// generated is a file gen writes, with the content it should have.
type generated struct {
	path    string // relative to the module root
	content []byte
}

// gracekitFiles renders gracekit's schema, reference and default file
// from the config package in root, the gracekit module's directory.
func gracekitFiles(root string) ([]generated, error) {
	comments, err := schema.GoComments(gracekitModule+"/config", filepath.Join(root, "config"))
	if err != nil {
		return nil, err
	}
	schemaJSON, err := schema.Generate(config.Default(), schema.Options{
		ID:          schema.ID,
		Title:       schema.Title,
		Description: schema.Description,
		Comments:    comments,
	})
	if err != nil {
		return nil, err
	}
	keys, err := config.Keys(config.Default(), config.DefaultEnvPrefix)
	if err != nil {
		return nil, err
	}
	desc, err := describe(schemaJSON, keys)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(filepath.Dir(defaultYAMLFile), schemaFile)
	if err != nil {
		return nil, err
	}
	return []generated{
		{schemaFile, schemaJSON},
		{docsFile, renderDocs(desc)},
		{defaultYAMLFile, renderDefaultYAML(desc, filepath.ToSlash(rel))},
	}, nil
}
