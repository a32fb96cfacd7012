package schema_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// loaderOnly lists the corpus files the loader rejects and the schema
// accepts, with the rule a JSON Schema cannot state. Every file of
// testdata/corpus/loader-only must be here, and only those.
var loaderOnly = map[string]string{
	"address-too-many-colons.yaml": "the host part must be a host (net.SplitHostPort); the pattern only checks the port",
	"address-unix-relative.json":   `"unix:80" is a relative unix path; the pattern reads it as host "unix", port 80`,
	"https-same-as-address.yaml":   "httpsAddress must differ from address: a schema cannot compare two values",
	"health-paths-equal.toml":      "readinessPath and livenessPath must differ: a schema cannot compare two values",
	"size-not-whole-bytes.yaml":    `"1.0001k" is 1000.1 bytes: a pattern cannot multiply`,
	"size-too-large.json":          `"9EiB" is above int64: a pattern cannot compare magnitudes`,
	"size-int-too-large.json":      "1e19 bytes is above int64; the schema states no maximum that JSON numbers hold exactly",
	"duration-too-large.yaml":      `"3000000h" is above int64 nanoseconds: a pattern cannot compare magnitudes`,
	"json-duplicate-key.json":      "a key written twice: JSON parsers keep the last one before any schema sees the document",
	"yaml-date.yaml":               "YAML reads 2024-01-02 as a date; JSON has no dates, so the schema sees a string",
	"toml-datetime.toml":           "TOML datetimes are not strings; JSON has no dates, so the schema sees a string",
}

// parsedAsTheLoaderDoes lists the files of loaderOnly that schema.Validate
// (and with it gen validate) rejects too: it parses a document with the
// loader's own parser (config.ParseDocument), which refuses what the
// loader refuses before any schema sees the document. A validator that
// parses with a JSON library, as the ajv check does, accepts them.
var parsedAsTheLoaderDoes = []string{"json-duplicate-key.json"}

// corpusFile is one file of the corpus with what the loader and the
// schema say about it.
type corpusFile struct {
	dir, name, path string
	loader          []string
	schema          []string
}

func readCorpus(t *testing.T) []corpusFile {
	t.Helper()
	var out []corpusFile
	for _, dir := range []string{"valid", "invalid", "loader-only"} {
		entries, err := os.ReadDir(filepath.Join("testdata", "corpus", dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			path := filepath.ToSlash(filepath.Join("testdata", "corpus", dir, e.Name()))
			f := corpusFile{dir: dir, name: e.Name(), path: path}
			cfg := config.Default()
			if err := config.Load(&cfg, config.WithFiles(path), config.WithoutEnv()); err != nil {
				var ce *config.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s: %v", path, err)
				}
				for _, p := range ce.Problems {
					f.loader = append(f.loader, p.Error())
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := schema.Validate(path, data)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, p := range ps {
				f.schema = append(f.schema, fmt.Sprintf("%s:%d: %s (%s): %s", path, p.Line, p.Key, p.Pointer, p.Message))
			}
			out = append(out, f)
		}
	}
	return out
}

// TestCorpusAgreement checks that the loader and the schema agree on the
// shared corpus: what the loader accepts the schema accepts, what the
// schema rejects the loader rejects, and the loader is stricter only on
// the files of loaderOnly.
func TestCorpusAgreement(t *testing.T) {
	files := readCorpus(t)
	counts := map[string]int{}
	formats := map[string]int{}
	var seenLoaderOnly []string
	for _, f := range files {
		counts[f.dir]++
		formats[filepath.Ext(f.name)]++
		loaderOK, schemaOK := len(f.loader) == 0, len(f.schema) == 0
		if loaderOK && !schemaOK {
			t.Errorf("%s: the loader accepts it but the schema rejects it:\n\t%s", f.path, strings.Join(f.schema, "\n\t"))
		}
		switch f.dir {
		case "valid":
			if !loaderOK || !schemaOK {
				t.Errorf("%s is labelled valid:\n\tloader: %v\n\tschema: %v", f.path, f.loader, f.schema)
			}
		case "invalid":
			if loaderOK || schemaOK {
				t.Errorf("%s is labelled invalid (both reject):\n\tloader: %v\n\tschema: %v", f.path, f.loader, f.schema)
			}
		case "loader-only":
			seenLoaderOnly = append(seenLoaderOnly, f.name)
			if wantSchemaOK := !slices.Contains(parsedAsTheLoaderDoes, f.name); loaderOK || schemaOK != wantSchemaOK {
				t.Errorf("%s is labelled loader-only (the loader rejects, the schema accepts; schema.Validate rejects it too: %v):\n\tloader: %v\n\tschema: %v", f.path, !wantSchemaOK, f.loader, f.schema)
			}
			if loaderOnly[f.name] == "" {
				t.Errorf("%s is in loader-only/ but not in loaderOnly with its reason", f.path)
			}
		}
	}
	for name := range loaderOnly {
		if !slices.Contains(seenLoaderOnly, name) {
			t.Errorf("loaderOnly lists %s, which is not in testdata/corpus/loader-only", name)
		}
	}
	if len(files) < 60 {
		t.Errorf("the corpus has %d files, fewer than 60", len(files))
	}
	for _, ext := range []string{".yaml", ".json", ".toml"} {
		if formats[ext] < 10 {
			t.Errorf("only %d %s files in the corpus", formats[ext], ext)
		}
	}
	t.Logf("corpus: %d files (%d valid, %d invalid, %d rejected by the loader only); %d YAML, %d JSON, %d TOML",
		len(files), counts["valid"], counts["invalid"], counts["loader-only"], formats[".yaml"], formats[".json"], formats[".toml"])
}

// TestCorpusGolden records what the loader and the schema say about each
// corpus file, so that a change of message or line shows in review.
func TestCorpusGolden(t *testing.T) {
	var b bytes.Buffer
	for _, f := range readCorpus(t) {
		fmt.Fprintf(&b, "== %s\n", f.path)
		for _, l := range f.loader {
			fmt.Fprintf(&b, "loader: %s\n", l)
		}
		for _, s := range f.schema {
			fmt.Fprintf(&b, "schema: %s\n", s)
		}
	}
	golden(t, filepath.Join("testdata", "corpus.golden"), b.Bytes())
}

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code produces now (go test -update rewrites it); got:\n%s", path, got)
	}
}
