package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hostile builds documents of about size bytes that are wrong in the ways
// that once cost seconds and gigabytes: duplicate keys, unknown keys,
// deep nesting, long lists, aliases.
func hostile(format, shape string, size int) string {
	var b strings.Builder
	repeat := func(head, unit, tail string) string {
		b.WriteString(head)
		for b.Len()+len(unit)+len(tail) <= size {
			b.WriteString(unit)
		}
		b.WriteString(tail)
		return b.String()
	}
	counted := func(head, sep, tail string, unit func(i int) string) string {
		b.WriteString(head)
		for i := 0; ; i++ {
			u := unit(i)
			if i > 0 {
				u = sep + u
			}
			if b.Len()+len(u)+len(tail) > size {
				break
			}
			b.WriteString(u)
		}
		b.WriteString(tail)
		return b.String()
	}
	switch format + "/" + shape {
	case "yaml/duplicates":
		return repeat("server:\n", "  address: \":8080\"\n", "")
	case "json/duplicates":
		return counted(`{"server": {`, ",", "}}", func(int) string { return `"address": ":8080"` })
	case "toml/duplicates":
		return repeat("[server]\n", "address = \":8080\"\n", "")
	case "yaml/unknown":
		return counted("server:\n", "", "", func(i int) string { return fmt.Sprintf("  k%d: 1\n", i) })
	case "json/unknown":
		return counted(`{"server": {`, ",", "}}", func(i int) string { return fmt.Sprintf(`"k%d": 1`, i) })
	case "toml/unknown":
		return counted("[server]\n", "", "", func(i int) string { return fmt.Sprintf("k%d = 1\n", i) })
	case "yaml/unknown-sections": // MaxKeys keys per section, as many sections as fit
		return counted("", "", "", func(i int) string {
			if i%MaxKeys == 0 {
				return fmt.Sprintf("s%d:\n  k%d: 1\n", i/MaxKeys, i)
			}
			return fmt.Sprintf("  k%d: 1\n", i)
		})
	case "toml/unknown-sections":
		return counted("", "", "", func(i int) string {
			if i%MaxKeys == 0 {
				return fmt.Sprintf("[s%d]\nk%d = 1\n", i/MaxKeys, i)
			}
			return fmt.Sprintf("k%d = 1\n", i)
		})
	case "json/unknown-sections":
		return counted(`{"s0": {`, "", "}}", func(i int) string {
			switch {
			case i == 0:
				return `"k0": 1`
			case i%MaxKeys == 0:
				return fmt.Sprintf(`}, "s%d": {"k%d": 1`, i/MaxKeys, i)
			}
			return fmt.Sprintf(`, "k%d": 1`, i)
		})
	case "yaml/deep":
		return counted("", "", "", func(i int) string { return strings.Repeat(" ", i) + "a:\n" })
	case "json/deep":
		n := size / 7
		return strings.Repeat(`{"a": `, n) + "1" + strings.Repeat("}", n)
	case "toml/deep":
		n := (size - 5) / 6
		return "a = " + strings.Repeat("{b = ", n) + "1" + strings.Repeat("}", n)
	case "yaml/list":
		return repeat("server:\n  address: [", "1,", "1]\n")
	case "json/list":
		return repeat(`{"server": {"address": [`, "1,", "1]}}")
	case "toml/list":
		return repeat("[server]\naddress = [", "1,", "1]\n")
	case "yaml/tables":
		return repeat("server:\n  address: [", "{},", "{}]\n")
	case "json/tables":
		return repeat(`{"server": {"address": [`, "{},", "{}]}}")
	case "toml/tables":
		return repeat("[server]\naddress = [", "{},", "{}]\n")
	case "yaml/lists":
		return repeat("server:\n  address: [", "[],", "[]]\n")
	case "json/lists":
		return repeat(`{"server": {"address": [`, "[],", "[]]}}")
	case "toml/lists":
		return repeat("[server]\naddress = [", "[],", "[]]\n")
	case "yaml/aliases":
		// Each anchor refers to the previous one ten times: a billion
		// laughs.
		b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
		for i := 1; i < 30; i++ {
			fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
		}
		return b.String()
	case "yaml/merges":
		// One anchor of MaxKeys keys merged into as many mappings as fit.
		b.WriteString("base: &b\n")
		for i := range MaxKeys {
			fmt.Fprintf(&b, "  k%d: 1\n", i)
		}
		return repeat("list:\n", "  - {<<: *b}\n", "")
	}
	panic("no such hostile document: " + format + "/" + shape)
}

// loadCost loads doc and returns the bytes Load allocated and its error.
func loadCost(t testing.TB, format, doc string, opts ...Option) (uint64, error) {
	cfg := Default()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := Load(&cfg, append([]Option{withDocument("hostile."+format, format, []byte(doc)), WithoutEnv()}, opts...)...)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// TestHostileDocuments loads documents just under MaxFileSize shaped to
// be expensive, and checks that each gives a clear error within 100 MB of
// allocations (all bytes allocated, not only those live at once), with at
// most MaxProblems problems listed. Time is for the benchmarks to show:
// it depends on the machine.
func TestHostileDocuments(t *testing.T) {
	for _, c := range []struct {
		format, shape, want string
	}{
		{"yaml", "duplicates", `server.address: the key "address" is written `},
		{"json", "duplicates", `server.address: the key "address" is written `},
		{"toml", "duplicates", `not valid TOML: toml: key address is already defined`},
		{"yaml", "unknown", `holds more than 1000 keys (config.MaxKeys)`},
		{"json", "unknown", `holds more than 1000 keys (config.MaxKeys)`},
		{"toml", "unknown", `holds more than 1000 keys (config.MaxKeys)`},
		{"yaml", "unknown-sections", `s0: unknown key; the top-level keys are server, process, log`},
		{"json", "unknown-sections", `s0: unknown key; the top-level keys are server, process, log`},
		{"toml", "unknown-sections", `s0: unknown key; the top-level keys are server, process, log`},
		{"yaml", "deep", `nests deeper than 32 levels (config.MaxDepth)`},
		{"json", "deep", `nests deeper than 32 levels (config.MaxDepth)`},
		{"toml", "deep", `nests deeper than 32 levels (config.MaxDepth)`},
		{"yaml", "list", `server.address: the value is a list, not a string: quote it`},
		{"json", "list", `server.address: the value is a list, not a string: quote it`},
		{"toml", "list", `server.address: the value is a list, not a string: quote it`},
		{"yaml", "tables", `server.address: the value is a list, not a string: quote it`},
		{"json", "tables", `server.address: the value is a list, not a string: quote it`},
		{"toml", "tables", `server.address: the value is a list, not a string: quote it`},
		{"yaml", "lists", `server.address: the value is a list, not a string: quote it`},
		{"json", "lists", `server.address: the value is a list, not a string: quote it`},
		{"toml", "lists", `server.address: the value is a list, not a string: quote it`},
		{"yaml", "aliases", `repeat more than 10000 values (config.MaxAliasValues)`},
		{"yaml", "merges", `repeat more than 10000 values (config.MaxAliasValues)`},
	} {
		t.Run(c.format+"/"+c.shape, func(t *testing.T) {
			doc := hostile(c.format, c.shape, MaxFileSize)
			if len(doc) > MaxFileSize {
				t.Fatalf("the document has %d bytes, above the limit", len(doc))
			}
			allocated, err := loadCost(t, c.format, doc)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("the error lacks %q:\n%.2000s", c.want, err.Error())
			}
			if len(e.Problems) > MaxProblems || len(err.Error()) > 64<<10 {
				t.Errorf("%d problems listed, %d bytes of error text", len(e.Problems), len(err.Error()))
			}
			if allocated > 100<<20 {
				t.Errorf("Load of %d bytes allocated %d MB", len(doc), allocated>>20)
			}
			t.Logf("%d bytes: %d problems (%d omitted), %.1f MB allocated", len(doc), len(e.Problems), e.Omitted, float64(allocated)/(1<<20))
		})
	}
}

func TestFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(`{"server": {"address": "`+strings.Repeat("x", MaxFileSize)+`"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	err := Load(&cfg, WithFiles(big), WithoutEnv())
	want := big + ": the file is 128 KiB (131099 bytes), larger than the limit of 128 KiB (config.MaxFileSize)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	// At the limit, the file is read.
	doc := `{"log": {"level": "debug"}}`
	ok := filepath.Join(dir, "ok.json")
	if err := os.WriteFile(ok, []byte(doc+strings.Repeat(" ", MaxFileSize-len(doc))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Load(&cfg, WithFiles(ok), WithoutEnv()); err != nil || cfg.Log.Level != "debug" {
		t.Errorf("a file of MaxFileSize bytes: %v, level %q", err, cfg.Log.Level)
	}
	if _, err := ParseDocument("a.yaml", []byte(strings.Repeat("#", MaxFileSize+1))); err == nil || !strings.Contains(err.Error(), "larger than the limit of 128 KiB") {
		t.Errorf("ParseDocument of a large document: %v", err)
	}
}

func TestProblemCap(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "unknown%d: 1\n", i)
	}
	cfg := Default()
	err := Load(&cfg, withDocument("many.yaml", "yaml", []byte(b.String())), WithoutEnv())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatal(err)
	}
	if len(e.Problems) != MaxProblems || e.Omitted != 300-MaxProblems {
		t.Errorf("%d problems, %d omitted", len(e.Problems), e.Omitted)
	}
	if e.Problems[0].Line != 1 || e.Problems[MaxProblems-1].Line != MaxProblems {
		t.Errorf("not the first problems: lines %d..%d", e.Problems[0].Line, e.Problems[MaxProblems-1].Line)
	}
	text := err.Error()
	if !strings.HasPrefix(text, "invalid configuration: 300 problems:\n") || !strings.HasSuffix(text, "\n\t... and 250 more") {
		t.Errorf("error text: %.100s ... %s", text, text[len(text)-40:])
	}
}

func TestDuplicateKeysOnce(t *testing.T) {
	doc := "server:\n" + strings.Repeat("  address: \":1\"\n", 8000) + "log:\n  level: info\n  level: warn\n"
	_, err := loadCost(t, "yaml", doc)
	sameLines(t, "problems", errorLines(t, err), []string{
		`hostile.yaml:3: server.address: the key "address" is written 8000 times in the same mapping (lines 2, 3, 4, 5 and 7996 more): keep one`,
		`hostile.yaml:8004: log.level: the key "level" is written twice in the same mapping (lines 8003 and 8004): keep one`,
	})
}
