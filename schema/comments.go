package schema

import (
	"fmt"
	"os"

	"github.com/invopop/jsonschema"
)

// GoComments reads the doc comments of the Go package in dir, whose import
// path is importPath, into a map from "importPath.Type" and
// "importPath.Type.Field" to comment text, the form [Options.Comments]
// takes.
//
// It uses invopop/jsonschema's AddGoComments, which names packages by
// joining importPath with the directory it walks; so GoComments changes
// the working directory to dir while it reads and changes it back before
// it returns. Call it from a generator before starting goroutines, not
// from a server.
func GoComments(importPath, dir string) (map[string]string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("schema: read the comments of %s: %w", importPath, err)
	}
	if err := os.Chdir(dir); err != nil {
		return nil, fmt.Errorf("schema: read the comments of %s: %w", importPath, err)
	}
	var r jsonschema.Reflector
	err = r.AddGoComments(importPath, ".")
	if cerr := os.Chdir(wd); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("schema: read the comments of %s in %s: %w", importPath, dir, err)
	}
	return r.CommentMap, nil
}
