package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// runSchema writes generated files: gracekit's own, or with -type the
// schema of a type in the package of dir.
func runSchema(dir string, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen schema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var job userJob
	fs.StringVar(&job.Type, "type", "", "configuration `type` of the package in the current directory")
	fs.StringVar(&job.Defaults, "defaults", "", "`function` of that package returning the type with its default values (else the zero value)")
	fs.StringVar(&job.Out, "out", "", "schema `file` to write, relative to the current directory")
	fs.StringVar(&job.Docs, "docs", "", "Markdown reference `file` to write (keys, types, defaults, environment variables, descriptions)")
	fs.StringVar(&job.YAML, "yaml", "", "YAML `file` to write with every key at its default, starting with the schema line")
	fs.StringVar(&job.EnvPrefix, "env-prefix", "", "`prefix` of the environment variables, as given to config.WithEnvPrefix (default GRACEKIT_)")
	fs.StringVar(&job.ID, "id", "", "$id of the schema (default: https://IMPORTPATH/OUT)")
	fs.StringVar(&job.Title, "title", "", "title of the schema (default: \"TYPE configuration\")")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gen schema: unexpected argument %q\n%s", fs.Arg(0), usage)
		return exitUsage
	}
	if job.Type == "" {
		if job.Out != "" || job.Defaults != "" || job.Docs != "" || job.YAML != "" || job.EnvPrefix != "" {
			fmt.Fprintf(stderr, "gen schema: -out, -defaults, -docs, -yaml and -env-prefix go with -type\n%s", usage)
			return exitUsage
		}
		return writeGracekit(dir, stderr)
	}
	if job.Out == "" {
		fmt.Fprintf(stderr, "gen schema: -type needs -out\n%s", usage)
		return exitUsage
	}
	job.Dir = dir
	files, err := job.generate()
	if err != nil {
		fmt.Fprintln(stderr, "gen schema:", err)
		return exitInvalid
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.path), f.content); err != nil {
			fmt.Fprintln(stderr, "gen schema:", err)
			return exitInvalid
		}
	}
	return exitOK
}

// writeGracekit writes gracekit's generated files, from anywhere in the
// gracekit module.
func writeGracekit(dir string, stderr io.Writer) int {
	root, path, err := moduleRoot(dir)
	if err != nil {
		fmt.Fprintln(stderr, "gen schema:", err)
		return exitInvalid
	}
	if path != gracekitModule {
		fmt.Fprintf(stderr, "gen schema: without -type, gen writes gracekit's own files and runs in the %s module (this is %s); in your package, use -type and -out\n", gracekitModule, path)
		return exitUsage
	}
	files, err := gracekitFiles(root)
	if err != nil {
		fmt.Fprintln(stderr, "gen schema:", err)
		return exitInvalid
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(root, f.path), f.content); err != nil {
			fmt.Fprintln(stderr, "gen schema:", err)
			return exitInvalid
		}
	}
	return exitOK
}

// writeFile writes content to path, creating its directory, and leaves a
// file that already has that content alone.
func writeFile(path string, content []byte) error {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(content) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}
