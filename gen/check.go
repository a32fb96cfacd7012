package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// runCheck regenerates every generated file of the module around dir in
// memory and names those whose committed content differs.
func runCheck(dir string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "gen check: unexpected argument %q\n%s", args[0], usage)
		return exitUsage
	}
	stale, err := check(dir)
	if err != nil {
		fmt.Fprintln(stderr, "gen check:", err)
		return exitInvalid
	}
	if len(stale) > 0 {
		for _, s := range stale {
			fmt.Fprintf(stdout, "stale: %s\n", s)
		}
		fmt.Fprintln(stderr, "gen check: generated files are out of date: run go generate ./...")
		return exitInvalid
	}
	return exitOK
}

// check returns the generated files of the module around dir that differ
// from what gen writes now, relative to the module root.
func check(dir string) ([]string, error) {
	root, path, err := moduleRoot(dir)
	if err != nil {
		return nil, err
	}
	var want []generated
	if path == gracekitModule {
		if want, err = gracekitFiles(root); err != nil {
			return nil, err
		}
	}
	jobs, err := userJobs(root)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		files, err := j.generate()
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			rel, err := filepath.Rel(root, filepath.Join(j.Dir, f.path))
			if err != nil {
				return nil, err
			}
			want = append(want, generated{filepath.ToSlash(rel), f.content})
		}
	}
	var stale []string
	for _, g := range want {
		have, err := os.ReadFile(filepath.Join(root, g.path))
		if err != nil || !bytes.Equal(have, g.content) {
			stale = append(stale, g.path)
		}
	}
	slices.Sort(stale)
	return stale, nil
}

// userJobs finds the go:generate lines of the module that run gen schema
// -type, skipping testdata, vendor, hidden directories and nested modules.
func userJobs(root string) ([]userJob, error) {
	var jobs []userJob
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		found, err := directives(path)
		jobs = append(jobs, found...)
		return err
	})
	return jobs, err
}

// directives reads the gen schema -type jobs in the go:generate lines of
// one Go file: "go run .../gen schema ..." and "go tool gen schema ...".
func directives(path string) ([]userJob, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var jobs []userJob
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "//go:generate ")
		if !ok {
			continue
		}
		args := strings.Fields(line)
		i := slices.IndexFunc(args, isGen)
		if i < 0 || i+1 >= len(args) || args[i+1] != "schema" {
			continue
		}
		job, err := parseJob(args[i+2:])
		if err != nil {
			return nil, fmt.Errorf("%s: go:generate %s: %w", path, line, err)
		}
		if job.Type == "" {
			continue // gracekit's own files, checked above
		}
		job.Dir = filepath.Dir(path)
		jobs = append(jobs, job)
	}
	return jobs, sc.Err()
}

// isGen reports whether a go:generate argument names the gen command: a
// path ending in /gen, or the gen package at some version.
func isGen(arg string) bool {
	arg, _, _ = strings.Cut(arg, "@")
	return arg == "gen" || strings.HasSuffix(arg, "/gen")
}

// parseJob reads the flags of a gen schema command line.
func parseJob(args []string) (userJob, error) {
	var j userJob
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !hasValue {
			if i+1 >= len(args) {
				return j, fmt.Errorf("flag %s has no value", args[i])
			}
			i++
			value = args[i]
		}
		switch name {
		case "type":
			j.Type = value
		case "defaults":
			j.Defaults = value
		case "out":
			j.Out = value
		case "docs":
			j.Docs = value
		case "yaml":
			j.YAML = value
		case "env-prefix":
			j.EnvPrefix = value
		case "id":
			j.ID = value
		case "title":
			j.Title = value
		default:
			return j, fmt.Errorf("unknown flag %s", args[i])
		}
	}
	if j.Type != "" && j.Out == "" {
		return j, fmt.Errorf("-type needs -out")
	}
	return j, nil
}
