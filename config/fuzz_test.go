package config

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// fuzzLoad checks what Load does with any bytes: it never panics, and it
// either reports problems that each say something, or gives a valid
// configuration that Describe writes and Load reads back unchanged.
func fuzzLoad(t *testing.T, format string, data []byte) {
	cfg := Default()
	err := Load(&cfg, withDocument("fuzz."+format, format, data), WithoutEnv())
	if err != nil {
		var e *Error
		if !errors.As(err, &e) || len(e.Problems) == 0 {
			t.Fatalf("error %v is not an *Error with problems", err)
		}
		for _, p := range e.Problems {
			if p.Message == "" || p.Source == "" {
				t.Fatalf("problem without a message or source: %+v", p)
			}
		}
		if cfg != Default() {
			t.Fatalf("a failed Load changed cfg")
		}
		return
	}
	if err := Validate(cfg); err != nil {
		t.Fatalf("Load accepted an invalid configuration: %v", err)
	}
	var b bytes.Buffer
	if err := Describe(&b, cfg); err != nil {
		t.Fatal(err)
	}
	back := Default()
	if err := Load(&back, withDocument("described.yaml", "yaml", b.Bytes()), WithoutEnv()); err != nil {
		t.Fatalf("Describe wrote what Load refuses: %v\n%s", err, b.String())
	}
	if back != cfg {
		t.Fatalf("Describe and Load changed the configuration:\n%+v\n%+v", cfg, back)
	}
}

func FuzzLoadYAML(f *testing.F) {
	for _, s := range []string{
		"",
		"server:\n  address: ':0'\n  maxHeaderBytes: 1m\n  readTimeout: 30\n",
		"server:\n  httpsAddress: ':8443'\n  certFile: c.pem\n  keyFile: k.pem\n",
		"server:\n  maxHeaderByte: 1k\n  keepAlive: yes\n",
		"process:\n  mode: supervisor\n  restartSignal: SIGUSR1\n  maxGenerations: 2\n  readinessPath: /ready\n",
		"log: {level: debug, format: json}\n",
		"server: x\n",
		"- a\n",
		"base: &b\n  level: info\nlog:\n  <<: *b\n",
		"server:\n  readTimeout: 1.9\n  writeTimeout: -1\n  idleTimeout: 9223372037\n",
		"server:\n  address: \"unix:/run/app.sock\"\n  maxHeaderBytes: 1.5k\n",
		"server:\n  1: x\n",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "yaml", data) })
}

func FuzzLoadJSON(f *testing.F) {
	for _, s := range []string{
		"{}",
		`{"server": {"address": ":0", "maxHeaderBytes": "1m", "readTimeout": 30}}`,
		`{"server": {"maxHeaderBytes": 1.5, "gracefulShutdownTimeout": 1.9}}`,
		`{"process": {"maxGenerations": 1e20, "mode": "x"}}`,
		`{"log": {"level": "info", "level": "warn"}}`,
		`{"server": null}`,
		`[1, 2]`,
		`null`,
		`{"server": {"httpsAddress": ":8443", "certFile": "", "keyFile": ""}}`,
		`{"server": {"keepAlive": 1}}`,
		`{"a": `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "json", data) })
}

func FuzzLoadTOML(f *testing.F) {
	for _, s := range []string{
		"",
		"[server]\naddress = ':0'\nmaxHeaderBytes = '1m'\nreadTimeout = 30\n",
		"[process]\npidFile = 1979-05-27\n",
		"server.address = 1\n",
		"[log]\nlevel = 'debug'\nformat = 'json'\n",
		"[[server]]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLoad(t, "toml", data) })
}

// FuzzLargeDocument loads documents made by repeating a fuzzed unit up to
// count times after a fuzzed head, up to a little over MaxFileSize: large
// documents of any shape. Load must return an *Error or a configuration,
// list at most MaxProblems problems, and allocate at most 100 MB.
func FuzzLargeDocument(f *testing.F) {
	for _, s := range []struct {
		format     uint8
		head, unit string
		count      uint16
	}{
		{0, "server:\n", "  address: x\n", 8000},
		{0, "server:\n", "  k: 1\n  j: 2\n", 5000},
		{0, "a: &a [1]\nb: ", "[*a, *a], ", 3000},
		{0, "", "- ", 40000},
		{0, "s:\n", "  - {a: 1, b: [1, 2]}\n", 6000},
		{1, `{"server": {`, `"k": 1, `, 12000},
		{1, "", `{"a": [`, 20000},
		{2, "[server]\n", "k = 1\n", 20000},
		{2, "a = ", "{b = ", 20000},
		{2, "", "[[t]]\nk = [1, {x = 1}]\n", 4000},
	} {
		f.Add(s.format, []byte(s.head), []byte(s.unit), s.count)
	}
	f.Fuzz(func(t *testing.T, format uint8, head, unit []byte, count uint16) {
		name := []string{"yaml", "json", "toml"}[int(format)%3]
		if len(unit) == 0 {
			return
		}
		n := min(int(count), (MaxFileSize+len(unit))/len(unit)+1)
		doc := append(append([]byte(nil), head...), bytes.Repeat(unit, n)...)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cfg := Default()
		err := Load(&cfg, withDocument("large."+name, name, doc), WithoutEnv())
		runtime.ReadMemStats(&after)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 || len(e.Problems) > MaxProblems {
				t.Fatalf("error %.200v is not an *Error with 1 to MaxProblems problems", err)
			}
			for _, p := range e.Problems {
				if p.Message == "" || p.Source == "" {
					t.Fatalf("problem without a message or source: %+v", p)
				}
			}
		}
		if len(doc) <= MaxFileSize {
			if a := after.TotalAlloc - before.TotalAlloc; a > 100<<20 {
				t.Fatalf("Load of %d bytes allocated %d MB", len(doc), a>>20)
			}
		} else if err == nil || !strings.Contains(err.Error(), "config.MaxFileSize") {
			t.Fatalf("a document of %d bytes was not refused for its size: %v", len(doc), err)
		}
	})
}
