package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Describe writes the configuration cfg (a struct or a pointer to one) as
// YAML that [Load] reads back: one key per line, sizes in binary units
// ("10 KiB") when that is exact, durations as Go writes them ("1m0s").
// It is the effective configuration of a program, for logs and for a
// "-t" (test the configuration) command-line mode; see also [Check]. The
// value of a setting tagged secret (see [SecretTag]) is written
// "(secret)" unless it is empty.
func Describe(w io.Writer, cfg any) error {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("config: Describe needs a struct, got %T", cfg)
	}
	model, err := buildModel(v.Type())
	if err != nil {
		return err
	}
	return describe(w, model, v, nil)
}

// Check loads cfg as [Load] does and, when the configuration is valid,
// writes it to w as [Describe] does, each value followed by a comment that
// says where it came from (a file and line, an environment variable, a
// flag, or "default"). The value of a setting tagged secret (see
// [SecretTag]), and a value read from the file a _FILE variable names, is
// written "(secret)", with the file's name for the latter. When the
// configuration is invalid it writes nothing and returns the *[Error].
// Beyond Load's checks, it looks at the machine as the servers will at
// their start: it loads the TLS certificate and key, looks up a unix
// socket group given by name, and checks that the PID file's directory
// exists; a configuration it accepts then starts on this machine, as far
// as those go. It is made for an nginx -t style command-line mode:
//
//	if *testConfig {
//		if err := config.Check(os.Stdout, &cfg, opts...); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		os.Exit(0)
//	}
func Check[T any](w io.Writer, cfg *T, opts ...Option) error {
	res, err := load(cfg, opts)
	if err != nil {
		return err
	}
	var ps problems
	checkEnvironment(res.model, reflect.ValueOf(cfg).Elem(), &ps, func(key string) origin {
		if o, ok := res.origins[key]; ok {
			return o
		}
		return origin{source: "default"}
	})
	ps.scrub(res.secrets) // kept out as Load keeps them
	if err := ps.err(); err != nil {
		return err
	}
	return describe(w, res.model, reflect.ValueOf(cfg).Elem(), res.origins)
}

// describe writes the settings under model. With origins, each line gets
// a comment that says where its value came from.
func describe(w io.Writer, model *node, root reflect.Value, origins map[string]origin) error {
	type line struct{ text, comment string }
	var lines []line
	var walk func(sec *node, depth int)
	walk = func(sec *node, depth int) {
		indent := strings.Repeat("  ", depth)
		for _, n := range sec.children {
			if n.kind == kindSection {
				lines = append(lines, line{text: indent + n.key + ":"})
				walk(n, depth+1)
				continue
			}
			v := fieldValue(root, n, model)
			text, note := formatSetting(n, v)
			if o, ok := origins[n.dotted()]; ok && o.valueFile != "" {
				text, note = `"(secret)"`, "read from "+o.valueFile
			} else if n.secret && !v.IsZero() {
				text, note = `"(secret)"`, ""
			}
			var comment []string
			if note != "" {
				comment = append(comment, note)
			}
			if origins != nil {
				comment = append(comment, originText(origins, n.dotted()))
			}
			lines = append(lines, line{indent + n.key + ": " + text, strings.Join(comment, "; ")})
		}
	}
	walk(model, 0)
	width := 0
	for _, l := range lines {
		if l.comment != "" {
			width = max(width, len(l.text))
		}
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		if l.comment != "" {
			b.WriteString(strings.Repeat(" ", width-len(l.text)+2) + "# " + l.comment)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// originText says where the value of key came from.
func originText(origins map[string]origin, key string) string {
	o, ok := origins[key]
	if !ok {
		return "default"
	}
	if o.pos.Line > 0 {
		return o.source + ":" + strconv.Itoa(o.pos.Line)
	}
	return o.source
}

// formatSetting writes a value as YAML, with a note for sizes whose
// binary form is rounded.
func formatSetting(n *node, v reflect.Value) (text, note string) {
	switch n.kind {
	case kindSize:
		s := Size(v.Int())
		if s.exact() {
			return s.String(), ""
		}
		return strconv.FormatInt(int64(s), 10), "about " + s.String()
	case kindList:
		items := make([]string, v.Len())
		for i := range items {
			items[i], _ = formatSetting(n.elem, v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]", ""
	case kindDuration:
		return Duration(v.Int()).String(), ""
	}
	switch fv := fileValue(n, v).(type) {
	case string:
		return strconv.Quote(fv), ""
	case float64:
		return strconv.FormatFloat(fv, 'g', -1, 64), ""
	default:
		return fmt.Sprint(fv), ""
	}
}

// exact reports whether the String of s parses back to s.
func (s Size) exact() bool {
	back, err := ParseSize(s.String())
	return err == nil && back == s
}
