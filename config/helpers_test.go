package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	gotoml "github.com/pelletier/go-toml/v2"
	"go.yaml.in/yaml/v3"
)

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// encode writes doc in a format.
func encode(t testing.TB, format string, doc map[string]any) string {
	t.Helper()
	var b []byte
	var err error
	switch format {
	case "yaml":
		b, err = yaml.Marshal(doc)
	case "json":
		b, err = json.MarshalIndent(doc, "", "  ")
	case "toml":
		b, err = gotoml.Marshal(doc)
	}
	if err != nil {
		t.Fatalf("encode %s: %v", format, err)
	}
	return string(b)
}

// envOf turns the leaves of doc into GRACEKIT_ environment variables.
func envOf(doc map[string]any, path []string) []string {
	var out []string
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := append(append([]string(nil), path...), k)
		switch v := doc[k].(type) {
		case map[string]any:
			out = append(out, envOf(v, p)...)
		default:
			out = append(out, envName(DefaultEnvPrefix, p)+"="+fmt.Sprint(v))
		}
	}
	return out
}

// problemsOf returns the problems of a Load error as "key: message"
// lines, failing the test when err is not an *Error.
func problemsOf(t testing.TB, err error) []Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error is %T, not *Error: %v", err, err)
	}
	return e.Problems
}

// keyMessages formats problems without their sources.
func keyMessages(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Key + ": " + p.Message
	}
	return out
}

// sameLines compares want and got, reporting the differences.
func sameLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s:\ngot:\n\t%s\nwant:\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
}

func typeOf(v any) reflect.Type { return reflect.TypeOf(v) }

func valueOfPtr(p any) reflect.Value { return reflect.ValueOf(p) }
