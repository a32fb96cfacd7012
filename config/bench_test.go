package config

import (
	"fmt"
	"strings"
	"testing"
)

// keysDocument writes a document of n keys in a format: a valid server
// section, then unknown sections of MaxKeys keys each, whose values are
// numbers, strings and lists in turn. The loader parses, positions and
// checks every key; the converter reports one unknown key per section.
func keysDocument(format string, n int) string {
	var b strings.Builder
	value := func(i int) string {
		switch i % 3 {
		case 0:
			return fmt.Sprint(i)
		case 1:
			return `"v` + fmt.Sprint(i) + `"`
		}
		return "[1, 2]"
	}
	switch format {
	case "yaml":
		b.WriteString("server:\n  address: \":8080\"\n  maxHeaderBytes: 16KiB\n")
		for i := range n {
			if i%MaxKeys == 0 {
				fmt.Fprintf(&b, "s%d:\n", i/MaxKeys)
			}
			fmt.Fprintf(&b, "  k%d: %s\n", i, value(i))
		}
	case "json":
		b.WriteString(`{"server": {"address": ":8080", "maxHeaderBytes": "16KiB"}`)
		for i := range n {
			if i%MaxKeys == 0 {
				if i > 0 {
					b.WriteString("}")
				}
				fmt.Fprintf(&b, ",\n\"s%d\": {", i/MaxKeys)
			} else {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n  \"k%d\": %s", i, value(i))
		}
		b.WriteString("}}\n")
	case "toml":
		b.WriteString("[server]\naddress = \":8080\"\nmaxHeaderBytes = \"16KiB\"\n")
		for i := range n {
			if i%MaxKeys == 0 {
				fmt.Fprintf(&b, "[s%d]\n", i/MaxKeys)
			}
			fmt.Fprintf(&b, "k%d = %s\n", i, value(i))
		}
	}
	return b.String()
}

// BenchmarkLoadKeys loads documents of 1k, 10k and 100k keys, the limits
// on file size lifted (100k keys take about 1.5 MB), to show that time and
// memory grow in proportion to the number of keys. B/op is what one Load
// allocates in all.
//
//	go test -run '^$' -bench LoadKeys -benchmem ./config/
func BenchmarkLoadKeys(b *testing.B) {
	for _, format := range []string{"yaml", "json", "toml"} {
		for _, n := range []int{1000, 10000, 100000} {
			doc := []byte(keysDocument(format, n))
			b.Run(fmt.Sprintf("%s/%dk", format, n/1000), func(b *testing.B) {
				lim := defaultLimits()
				lim.fileSize = 64 << 20
				b.SetBytes(int64(len(doc)))
				b.ReportAllocs()
				for b.Loop() {
					cfg := Default()
					err := Load(&cfg, withDocument("bench."+format, format, doc), WithoutEnv(), withLimits(lim))
					if err == nil || !strings.Contains(err.Error(), "s0: unknown key") {
						b.Fatalf("unexpected result: %.300v", err)
					}
				}
			})
		}
	}
}

// BenchmarkHostile loads the hostile documents of TestHostileDocuments,
// each just under MaxFileSize: the time each takes is here, not in a test.
func BenchmarkHostile(b *testing.B) {
	for _, c := range []struct{ format, shape string }{
		{"yaml", "duplicates"}, {"yaml", "unknown"}, {"yaml", "unknown-sections"}, {"toml", "deep"},
		{"toml", "unknown-sections"}, {"json", "unknown-sections"}, {"yaml", "list"}, {"toml", "list"}, {"yaml", "merges"},
	} {
		doc := []byte(hostile(c.format, c.shape, MaxFileSize))
		b.Run(c.format+"/"+c.shape, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				cfg := Default()
				if err := Load(&cfg, withDocument("hostile."+c.format, c.format, doc), WithoutEnv()); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// BenchmarkLoadStartup is what a program's start pays for its
// configuration: defaults, a small file and the environment, as
// examples/reload loads them in every new generation (on the path to its
// first answer).
//
//	go test -run '^$' -bench LoadStartup -benchmem ./config/
func BenchmarkLoadStartup(b *testing.B) {
	file := writeFile(b, "c.yaml", "server:\n  address: \"127.0.0.1:8080\"\nprocess:\n  probation: 0s\n  pidFile: /tmp/x.pid\n")
	for b.Loop() {
		cfg := Default()
		if err := Load(&cfg, WithFiles(file)); err != nil {
			b.Fatal(err)
		}
	}
}
