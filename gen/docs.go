package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gracekit/gracekit/config"
)

// docPage is what a configuration reference says before its table.
type docPage struct {
	title     string // the heading
	generated string // how the page is generated, for the comment
	intro     string // Markdown: what the file is and where its schema is
	envPrefix string // the prefix of the environment variables
	example   *entry // a key to show the environment variables with
	validate  string // the command that checks a file
	required  bool   // some keys are required
	restarts  bool   // the configuration has process.mode
}

// gracekitPage describes docs/config.md.
func gracekitPage(entries []entry) docPage {
	return docPage{
		title:     "Configuration reference",
		generated: `"go run ./gen" from the Go types in config/`,
		intro: `A gracekit server reads its configuration from YAML, JSON or TOML files
(the format comes from the extension: ~.yaml~, ~.yml~, ~.json~, ~.toml~),
then from environment variables, then from flags; a later source overrides
an earlier one key by key, and every key is optional. The JSON Schema
[schema/gracekit.schema.json](../schema/gracekit.schema.json) describes the
same file for editors and CI, and
[examples/config/default.yaml](../examples/config/default.yaml) holds every
key at its default value.`,
		envPrefix: config.DefaultEnvPrefix,
		example:   findEntry(entries, "server.maxHeaderBytes"),
		validate:  "go run ./gen validate app.yaml",
		restarts:  findEntry(entries, "process.mode") != nil,
	}
}

// userPage describes the reference of a user's configuration type.
func userPage(j userJob, importPath string, entries []entry) docPage {
	rel := func(to string) string {
		r, err := filepath.Rel(filepath.Dir(filepath.Join(j.Dir, j.Docs)), filepath.Join(j.Dir, to))
		if err != nil {
			return to
		}
		return filepath.ToSlash(r)
	}
	intro := fmt.Sprintf(`The configuration of ~%s~ (type ~%s~) is read from YAML, JSON or TOML
files (the format comes from the extension), then from environment
variables, then from flags; a later source overrides an earlier one key by
key, and every key is optional unless its type says required. The JSON
Schema [%s](%s) describes the same file for editors and CI.`, importPath, j.Type, filepath.Base(j.Out), rel(j.Out))
	if j.YAML != "" {
		intro += fmt.Sprintf(" [%s](%s) holds every key at its default value.", filepath.Base(j.YAML), rel(j.YAML))
	}
	var example *entry
	required := false
	for i := range entries {
		required = required || entries[i].Required
	}
	for i := range entries {
		if entries[i].Kind != "section" && entries[i].Pkg != gracekitModule+"/config" {
			example = &entries[i]
			break
		}
	}
	if example == nil {
		example = findEntry(entries, "server.maxHeaderBytes")
	}
	return docPage{
		title:     j.Type + " configuration reference",
		generated: fmt.Sprintf(`"gen schema -type %s" from the Go types of %s`, j.Type, importPath),
		intro:     intro,
		envPrefix: j.envPrefix(),
		example:   example,
		validate:  "go tool gen validate -schema " + filepath.ToSlash(j.Out) + " app.yaml",
		required:  required,
		restarts:  findEntry(entries, "process.mode") != nil,
	}
}

// findEntry returns the entry of a key, or nil.
func findEntry(entries []entry, path string) *entry {
	for i := range entries {
		if entries[i].Path == path {
			return &entries[i]
		}
	}
	return nil
}

// notes says how every configuration of the toolkit is read: the same
// words for gracekit's reference and for a user's, as Markdown bullets.
func (p docPage) notes() string {
	env, path, value := "PREFIX_KEY", "key", "..."
	if p.example != nil {
		env, path = p.example.Env, p.example.Path
		value = strings.Trim(yamlValue(*p.example), `"`)
		if p.example.Kind == "size" {
			value = "1MiB"
		}
		if strings.ContainsAny(value, " \t'\"$") {
			value = "'" + strings.ReplaceAll(value, "'", `'\''`) + "'"
		}
	}
	bullets := []string{
		fmt.Sprintf("**Environment variables** are ~%s~ followed by the key path in upper case, words split by underscores: ~%s=%s~ sets ~%s~. A variable that starts with the prefix but names no key is an error, but for those Kubernetes sets for a Service named like the prefix (~%[5]sPORT=tcp://10.0.0.1:80~, ~%[5]sSERVICE_HOST=10.0.0.1~, ...), recognised by their names and values together and ignored.", p.envPrefix, env, value, path, p.envPrefix),
		fmt.Sprintf("**Secrets from files**: for every key, the variable's name followed by ~_FILE~ names a file that holds the value, one trailing newline removed: ~%s_FILE=/run/secrets/name~ sets ~%s~ to the content of that file. Setting both ~%[1]s~ and ~%[1]s_FILE~ is an error. A key marked ~secret:\"true\"~ in the Go type (its type says \"secret\" below) is never shown: not in ~-t~ output, in problems, in logs or here, and it has no flag.", env, path),
		fmt.Sprintf("**Flags** are the key path: ~--%s=%s~ (pflag) or ~-%[1]s %[2]s~ (the flag package). ~config.AddFlags~ and ~config.AddGoFlags~ register one for every key but the secrets, with its description and default.", path, value),
		"**Sizes** are a whole number of bytes (~10240~) or a number and a unit (~\"10KiB\"~, ~\"10 KiB\"~, ~\"500kb\"~, ~\"1.5MB\"~; case does not matter). ~k~, ~m~, ~g~, ~t~, ~p~ and ~e~ (with or without ~b~) are powers of 1000; ~ki~, ~mi~, ~gi~, ~ti~, ~pi~ and ~ei~ (with or without ~b~) are powers of 1024. So ~\"1m\"~ is 1000000 bytes and ~\"1MiB\"~ is 1048576 (GoFrame read ~1m~ as 1048576: write ~1MiB~ to keep that value). Negative sizes, fractions of a byte, digit separators, decimal commas and spaces around the value are errors.",
		"**Durations** are a Go duration with its unit (~\"30s\"~, ~\"1m30s\"~, ~\"250ms\"~; units ~ns~, ~us~, ~ms~, ~s~, ~m~, ~h~); only ~0~ goes without one. A bare number such as ~250~ is an error that says to write ~250ms~ or ~250s~, as programs disagree on its unit. Negative durations and unknown units are errors.",
		fmt.Sprintf("**Limits**: a file is at most %s, its key paths at most %d keys long, and one mapping holds at most %d keys; a file beyond them is refused with an error that names the limit.", config.Size(config.MaxFileSize), config.MaxDepth, config.MaxKeys),
		fmt.Sprintf("**Checking a file**: ~%s~ checks it against the schema and the loader's rules and prints one line per problem, with the file, line, key and fix.", p.validate),
	}
	if p.envPrefix == "GRACEKIT_" {
		// The names are config's (toolVariables); this names the family,
		// as config.Load's doc does, so that the list lives in one place.
		bullets[0] += " So are the variables of gracekit's own test suite and CI (~GRACEKIT_REQUIRE_TOOLS~ and the like, listed in gracekit's README)."
	}
	if p.restarts {
		bullets = append(bullets, "**Restarts**: every key takes effect at a restart, in both modes: the new generation (reexec), or the supervisor's new image and its new worker (supervisor), loads the files and the environment again. The exception is ~process.mode~, which takes effect at the next full start.")
	}
	if p.required {
		bullets = append([]string{"**Required keys** (~jsonschema:\"required\"~ in the Go type, \"required\" below) are set by a file, an environment variable or a flag: their default does not count. A file that writes one sets it, even to an empty value, which the program's own rules then judge."}, bullets...)
	}
	var b strings.Builder
	for _, bullet := range bullets {
		b.WriteString("- " + strings.Join(wrap(bullet, 72), "\n  ") + "\n")
	}
	return b.String()
}

// renderDocs writes a configuration reference: the page's introduction,
// the notes, and a table of every key.
func renderDocs(p docPage, entries []entry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n<!-- Generated by %s: do not edit. -->\n\n", p.title, p.generated)
	b.WriteString(strings.Join(wrap(strings.ReplaceAll(p.intro, "~", "`"), 74), "\n"))
	b.WriteString("\n\n")
	b.WriteString(strings.ReplaceAll(p.notes(), "~", "`"))
	b.WriteString("\n| Key | Type | Default | Environment variable | Description |\n|-----|------|---------|----------------------|-------------|\n")
	for _, e := range entries {
		if e.Kind == "section" {
			fmt.Fprintf(&b, "| **`%s`** | section | | | %s |\n", e.Path, cell(e.Description))
			continue
		}
		kind := typeCell(e)
		if e.Required {
			kind += ", required"
		}
		if e.Secret {
			kind += ", secret"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | `%s` | %s |\n", e.Path, kind, defaultCell(e), e.Env, cell(e.Description))
	}
	return b.Bytes()
}

// typeCell names the type of a key, with its values when they are a
// closed set.
func typeCell(e entry) string {
	if len(e.Enum) > 0 {
		q := make([]string, len(e.Enum))
		for i, v := range e.Enum {
			q[i] = "`" + v + "`"
		}
		return "one of " + strings.Join(q, ", ")
	}
	return e.Kind
}

// defaultCell writes a default value, with the size in binary units.
// A secret's value is never shown.
func defaultCell(e entry) string {
	if e.Secret {
		return "(secret)"
	}
	v := yamlValue(e)
	if e.Kind == "size" {
		if n, ok := e.Value.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				return fmt.Sprintf("`%s` (%s)", v, config.Size(i))
			}
		}
	}
	return "`" + v + "`"
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
