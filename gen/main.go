// Command gen generates gracekit's JSON Schema, its configuration
// reference and its default configuration file from the Go types, checks
// that the committed copies are current, and validates configuration
// files.
//
//	go run ./gen                     # same as "gen schema"
//	go run ./gen schema              # write schema/gracekit.schema.json, docs/config.md
//	                                 # and examples/config/default.yaml
//	go run ./gen check               # exit 1, naming them, when generated files are stale
//	go run ./gen validate FILE...    # check configuration files; exit 0, 1 or 2
//
// In a program's own module, gen runs as a tool (go get -tool
// github.com/gracekit/gracekit/gen@latest; with a replace directive to a
// local gracekit, go mod edit -require
// github.com/gracekit/gracekit@v0.0.0-00010101000000-000000000000 -tool
// github.com/gracekit/gracekit/gen && go mod tidy), and a go:generate line
// writes the schema, the reference and the default file of its
// configuration type, which embeds gracekit's sections next to its own:
//
//	//go:generate go tool gen schema -type AppConfig -defaults DefaultAppConfig -out app.schema.json -docs app.md -yaml app.default.yaml
//
// The package may embed the schema (for the help of its flags) before the
// first go generate has written it: gen stands a placeholder in for the
// files it writes while it compiles the package. gen check also
// regenerates those files, found through their go:generate lines, and
// compares them. gen validate checks a file whose schema one of those
// lines writes with the type itself, from its defaults and with its own
// Validate methods: what the program refuses, gen validate refuses, with
// the same message.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes.
const (
	exitOK      = 0
	exitInvalid = 1 // invalid configuration files, stale generated files, failures
	exitUsage   = 2
)

const usage = `usage:
  gen [schema]                       write gracekit's schema, docs/config.md and examples/config/default.yaml
  gen schema -type T [-defaults F] -out FILE [-docs FILE] [-yaml FILE] [-env-prefix P] [-id URL] [-title TEXT]
                                     write the schema of type T of the package in the current directory,
                                     and with -docs its Markdown reference, with -yaml a YAML file of
                                     its defaults
  gen check                          exit 1 naming the generated files that differ from what gen writes now
  gen validate [-schema FILE] [-format text|json|github] FILE...
                                     check YAML, JSON or TOML configuration files with the loader's rules
                                     and the schema they name (or FILE, or gracekit's); a schema that a
                                     go:generate line of this module writes brings its Go type, whose own
                                     rules apply as in the program: one line per problem,
                                     FILE:LINE: key.path: message (text), a JSON object with file, line,
                                     column, key and message (json), or a GitHub Actions ::error command
                                     (github); exit 0 if all are valid, 1 if not, 2 on usage errors (a
                                     file that cannot be read, a schema that cannot be found)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes gen with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := "schema"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return exitInvalid
	}
	switch cmd {
	case "schema":
		return runSchema(wd, args, stderr)
	case "check":
		return runCheck(wd, args, stdout, stderr)
	case "validate":
		return runValidate(args, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "gen: unknown command %q\n%s", cmd, usage)
	return exitUsage
}
