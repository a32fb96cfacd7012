package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDescribeDefaults(t *testing.T) {
	var b bytes.Buffer
	if err := Describe(&b, Default()); err != nil {
		t.Fatal(err)
	}
	want := `server:
  address: "127.0.0.1:8080"
  httpsAddress: ""
  certFile: ""
  keyFile: ""
  http3: false
  readTimeout: 1m0s
  readHeaderTimeout: 10s
  writeTimeout: 0s
  idleTimeout: 1m0s
  gracefulShutdownTimeout: 30s
  idleDrainGrace: 1s
  idleDrainGraceMin: 500ms
  hijackedGrace: 5s
  maxHeaderBytes: 10 KiB
  keepAlive: true
  unixSocketMode: ""
  unixSocketGroup: ""
process:
  mode: "reexec"
  restartSignal: "SIGHUP"
  upgradeTimeout: 1m0s
  maxGenerations: 3
  probation: 5s
  pidFile: ""
  shutdownDelay: 0s
  readinessPath: ""
  livenessPath: ""
  metricsPath: ""
log:
  level: "info"
  format: "text"
`
	if b.String() != want {
		t.Errorf("Describe(Default()):\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCheck(t *testing.T) {
	path := writeFile(t, "app.yaml", "server:\n  address: ':9090'\n  maxHeaderBytes: 1m\nlog:\n  level: debug\n")
	cfg := Default()
	var b bytes.Buffer
	err := Check(&b, &cfg, WithFiles(path), WithEnviron([]string{"GRACEKIT_SERVER_READ_TIMEOUT=5s"}))
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	squeezed := regexp.MustCompile(`  +#`).ReplaceAllString(out, " #")
	for _, line := range []string{
		`  address: ":9090" # ` + path + `:2`,
		`  readTimeout: 5s # env GRACEKIT_SERVER_READ_TIMEOUT`,
		`  maxHeaderBytes: 1000000 # about 977 KiB; ` + path + `:3`,
		`  keepAlive: true # default`,
		`  level: "debug" # ` + path + `:5`,
	} {
		if !strings.Contains(squeezed, line+"\n") {
			t.Errorf("Check output lacks %q:\n%s", line, out)
		}
	}
	if !strings.Contains(out, `  address: ":9090"              # `) {
		t.Errorf("comments are not aligned:\n%s", out)
	}
	if cfg.Server.Address != ":9090" {
		t.Errorf("Check did not load into cfg: %q", cfg.Server.Address)
	}

	// What Check writes loads back to the same configuration.
	again := Default()
	if err := Load(&again, WithFiles(writeFile(t, "back.yaml", out)), WithoutEnv()); err != nil {
		t.Fatal(err)
	}
	if again != cfg {
		t.Errorf("reloaded %+v\nwant %+v", again, cfg)
	}

	b.Reset()
	bad := Default()
	err = Check(&b, &bad, WithFiles(writeFile(t, "bad.yaml", "log:\n  level: loud\n")), WithoutEnv())
	var e *Error
	if !errors.As(err, &e) || b.Len() != 0 {
		t.Errorf("Check of a bad file: %v, wrote %q", err, b.String())
	}
}

func TestDescribeUserConfig(t *testing.T) {
	cfg := appConfig{Config: Default(), App: appSection{Greeting: "hi \"you\"", MaxUploadSize: 3 << 20, Cooldown: 1500 * time.Millisecond, Tags: []string{"a", "b"}, Ratio: 0.25}}
	var b bytes.Buffer
	if err := Describe(&b, &cfg); err != nil {
		t.Fatal(err)
	}
	want := "app:\n  greeting: \"hi \\\"you\\\"\"\n  maxUploadSize: 3.0 MiB\n  cooldown: 1.5s\n  tags: [\"a\", \"b\"]\n  ports: []\n  level: \"INFO\"\n  ratio: 0.25\n"
	if got := b.String(); !strings.HasSuffix(got, want) {
		t.Errorf("Describe:\n%s\nwant it to end with:\n%s", got, want)
	}
	back := appConfig{Config: Default(), App: appSection{Greeting: "x"}}
	if err := Load(&back, WithFiles(writeFile(t, "back.yaml", b.String())), WithoutEnv()); err != nil {
		t.Fatal(err)
	}
	back.App.Ports = nil
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("reloaded %+v\nwant %+v", back, cfg)
	}
}

func TestKeys(t *testing.T) {
	keys, err := Keys(Default(), DefaultEnvPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 32 {
		t.Errorf("%d keys, want 32 settings in 3 sections", len(keys))
	}
	byPath := map[string]Key{}
	for _, k := range keys {
		byPath[k.Path] = k
	}
	mhb := byPath["server.maxHeaderBytes"]
	if mhb.Env != "GRACEKIT_SERVER_MAX_HEADER_BYTES" || mhb.Kind != "size" || mhb.Value != int64(10240) || mhb.Field != "MaxHeaderBytes" || mhb.Struct != reflect.TypeFor[Server]() {
		t.Errorf("server.maxHeaderBytes: %+v", mhb)
	}
	if rt := byPath["server.readTimeout"]; rt.Value != "1m0s" || rt.Kind != "duration" {
		t.Errorf("server.readTimeout: %+v", rt)
	}
	if keys[0].Path != "server" || keys[0].Kind != "section" || keys[0].Env != "" || keys[0].Value != nil ||
		keys[1].Path != "server.address" || keys[len(keys)-1].Path != "log.format" {
		t.Errorf("order: %s, %s ... %s", keys[0].Path, keys[1].Path, keys[len(keys)-1].Path)
	}
	uk, err := Keys(appConfig{}, "APP_")
	if err != nil {
		t.Fatal(err)
	}
	last := uk[len(uk)-1]
	if last.Path != "app.ratio" || last.Env != "APP_APP_RATIO" || last.Kind != "number" {
		t.Errorf("user key %+v", last)
	}
	if k := uk[len(uk)-4]; k.Path != "app.tags" || k.Kind != "list of string" {
		t.Errorf("user key %+v", k)
	}
}

// TestCheckLooksAtTheMachine: -t loads the certificate, looks up the unix
// socket group and checks the PID file's directory, as the start does,
// and names the key, file and line of each.
func TestCheckLooksAtTheMachine(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "app.yaml", "server:\n  httpsAddress: \":8443\"\n  certFile: "+garbage+"\n  keyFile: "+garbage+"\n  unixSocketGroup: no-such-group-here\nprocess:\n  pidFile: "+filepath.Join(dir, "missing", "app.pid")+"\n")
	cfg := Default()
	err := Check(io.Discard, &cfg, WithFiles(path), WithoutEnv())
	got := errorLines(t, err)
	for _, want := range []string{
		path + ":3: server.certFile: the servers could not load the certificate:",
		path + ":5: server.unixSocketGroup: \"no-such-group-here\":",
		path + ":7: process.pidFile: ",
	} {
		found := false
		for _, l := range got {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no problem starting %q in:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// Load does not look at the machine.
	cfg = Default()
	if err := Load(&cfg, WithFiles(path), WithoutEnv()); err != nil {
		t.Errorf("Load: %v", err)
	}
	// A value read through a _FILE variable stays out of the problems.
	holder := filepath.Join(dir, "cert-path")
	if err := os.WriteFile(holder, []byte(garbage+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = Default()
	err = Check(io.Discard, &cfg, WithEnviron([]string{"GRACEKIT_SERVER_HTTPS_ADDRESS=:8443", "GRACEKIT_SERVER_CERT_FILE_FILE=" + holder, "GRACEKIT_SERVER_KEY_FILE=" + garbage}))
	if err == nil || !strings.Contains(err.Error(), "server.certFile: the servers could not load the certificate") || strings.Contains(err.Error(), garbage) {
		t.Errorf("a certificate path read from a file, in a problem: %v", err)
	}
}
