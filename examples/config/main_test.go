package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCheckMode(t *testing.T) {
	t.Setenv("GRACEKIT_APP_GREETING", "hi from the environment")
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", "app.yaml", "-t", "-server.address", ":9090"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := regexp.MustCompile(` +#`).ReplaceAllString(out.String(), " #")
	for _, want := range []string{
		`address: ":9090" # flag -server.address`,
		`maxHeaderBytes: 16 KiB # app.yaml:10`,
		`greeting: "hi from the environment" # env GRACEKIT_APP_GREETING`,
		`maxUploadSize: 1.0 MiB # app.yaml:16`,
		`url: "https://api.example.com" # app.yaml:18`,
	} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("-t output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestHelpListsEveryKey(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-help"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	help := errOut.String()
	for _, want := range []string{
		"  -app.greeting string\n    \tText the server answers to GET /. (a string) (default hello from gracekit)\n",
		"  -app.maxUploadSize size\n    \tLargest request body POST /upload accepts;",
		"(a size) (default 1MiB)\n",
		"  -server.readTimeout duration\n    \tLongest time to read a whole request, body included. 0 means no limit. (a duration) (default 1m0s)\n",
		"  -server.keepAlive\n    \tWhether connections are kept open between requests (HTTP keep-alive). (default true)\n",
		"  -process.maxGenerations int\n",
		"  -config file\n",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("-help lacks %q:\n%s", want, help)
		}
	}
}

func TestFlagsOverride(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", "app.yaml", "-t", "-app.maxUploadSize", "2MiB", "-server.keepAlive=false", "-log.level", "debug"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	got := regexp.MustCompile(` +#`).ReplaceAllString(out.String(), " #")
	for _, want := range []string{"maxUploadSize: 2.0 MiB # flag -app.maxUploadSize", "keepAlive: false # flag -server.keepAlive", `level: "debug" # flag -log.level`} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("-t output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"-config", "app.yaml", "-t", "-app.maxUploadSize", "1,5mb"}, &out, &errOut); code != 1 ||
		!strings.Contains(errOut.String(), `flag -app.maxUploadSize: app.maxUploadSize: "1,5mb" has a decimal comma: write 1.5mb (1500000 bytes)`) {
		t.Errorf("a bad flag value: exit %d: %s", code, errOut.String())
	}
}

// TestStrayArgumentsAreRefused: a word that is not a flag stops the flag
// parsing, and the flags after it (-t among them) would be dropped: the
// program refuses it rather than start serving.
func TestStrayArgumentsAreRefused(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"-config", "app.yaml", "foo", "-t"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unexpected arguments ["foo" "-t"]`) {
		t.Fatalf("exit %d, stderr %q; want 2 and the arguments named", code, stderr.String())
	}
}

func TestCheckModeRefusesBadConfig(t *testing.T) {
	t.Setenv("GRACEKIT_APP_MAX_UPLOAD_SIZE", "1.5")
	var out, errOut bytes.Buffer
	if code := run([]string{"-config", "app.yaml", "-t"}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := `invalid configuration: env GRACEKIT_APP_MAX_UPLOAD_SIZE: app.maxUploadSize: "1.5" is not a whole number of bytes`
	if !strings.HasPrefix(errOut.String(), want) || out.Len() != 0 {
		t.Errorf("stderr %q, stdout %q", errOut.String(), out.String())
	}
}

func TestHandler(t *testing.T) {
	app := DefaultAppConfig().App
	app.MaxUploadSize = 10
	h := handler(app)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() != "hello from gracekit\n" {
		t.Errorf("GET /: %q", rec.Body.String())
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/upload", strings.NewReader("0123456789")))
	if rec.Code != 200 || rec.Body.String() != "received 10 bytes\n" {
		t.Errorf("upload of 10 bytes: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/upload", strings.NewReader("0123456789a")))
	if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != "the body is larger than 10 B\n" {
		t.Errorf("upload of 11 bytes: %d %q", rec.Code, rec.Body.String())
	}
}

func TestServeAndDrain(t *testing.T) {
	cfg := DefaultAppConfig()
	cfg.Server.Address = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), pw); pw.Close() }()
	line := make([]byte, 100)
	n, err := pr.Read(line)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(string(line[:n]), "listening on "))
	go io.Copy(io.Discard, pr)
	var resp *http.Response
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err = http.Get(url); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello from gracekit\n" {
		t.Errorf("GET %s: %q", url, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// runCode runs the example in this process with args, and returns its
// exit code, standard output and standard error.
func runCode(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestSecretToken checks the secret app.apiToken: read from the file its
// _FILE variable names (or its variable), shown by -t as "(secret)",
// without a flag.
func TestSecretToken(t *testing.T) {
	const token = "tok-3f9a77c2e1"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRACEKIT_APP_API_TOKEN_FILE", file)
	code, out, errOut := runCode("-config", "app.yaml", "-t")
	got := regexp.MustCompile(` +#`).ReplaceAllString(out, " #")
	if code != 0 || !strings.Contains(got, `apiToken: "(secret)" # read from `+file+`; env GRACEKIT_APP_API_TOKEN_FILE`+"\n") || strings.Contains(out, token) {
		t.Errorf("exit %d, stderr %s\n%s", code, errOut, out)
	}
	os.Unsetenv("GRACEKIT_APP_API_TOKEN_FILE")
	t.Setenv("GRACEKIT_APP_API_TOKEN", token)
	code, out, _ = runCode("-config", "app.yaml", "-t")
	got = regexp.MustCompile(` +#`).ReplaceAllString(out, " #")
	if code != 0 || !strings.Contains(got, `apiToken: "(secret)" # env GRACEKIT_APP_API_TOKEN`+"\n") || strings.Contains(out, token) {
		t.Errorf("exit %d\n%s", code, out)
	}
	code, _, errOut = runCode("-help")
	if code != 0 || strings.Contains(errOut, "apiToken") {
		t.Errorf("-help lists a flag for the secret:\n%s", errOut)
	}
}

// TestRequiredUpstream checks app.upstream.url, which every configuration
// must write.
func TestRequiredUpstream(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte("app:\n  greeting: hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCode("-config", file, "-t")
	want := "invalid configuration: app.upstream.url: is required, and nothing sets it: write it in the configuration file, or set GRACEKIT_APP_UPSTREAM_URL\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
	}
	t.Setenv("GRACEKIT_APP_UPSTREAM_URL", "ftp://files")
	code, _, errOut = runCode("-config", file, "-t")
	want = `invalid configuration: env GRACEKIT_APP_UPSTREAM_URL: app.upstream.url: "ftp://files" is not an http or https URL: write it with its scheme and host, such as "https://api.example.com", or "" for none` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
	}
	// The default file gen writes passes.
	os.Unsetenv("GRACEKIT_APP_UPSTREAM_URL")
	if code, _, errOut := runCode("-config", "app.default.yaml", "-t"); code != 0 {
		t.Errorf("app.default.yaml: exit %d: %s", code, errOut)
	}
}

// TestKubernetesServiceLinks runs the example as in a pod of a namespace
// with a Service named like the environment prefix (gracekit) and another
// named gracekit-db: Kubernetes gives the container their variables.
func TestKubernetesServiceLinks(t *testing.T) {
	for k, v := range map[string]string{
		"GRACEKIT_SERVICE_HOST":           "10.96.0.12",
		"GRACEKIT_SERVICE_PORT":           "80",
		"GRACEKIT_SERVICE_PORT_HTTP":      "80",
		"GRACEKIT_PORT":                   "tcp://10.96.0.12:80",
		"GRACEKIT_PORT_80_TCP":            "tcp://10.96.0.12:80",
		"GRACEKIT_PORT_80_TCP_PROTO":      "tcp",
		"GRACEKIT_PORT_80_TCP_PORT":       "80",
		"GRACEKIT_PORT_80_TCP_ADDR":       "10.96.0.12",
		"GRACEKIT_DB_SERVICE_HOST":        "10.96.0.13",
		"GRACEKIT_DB_SERVICE_PORT":        "5432",
		"GRACEKIT_DB_PORT":                "tcp://10.96.0.13:5432",
		"GRACEKIT_DB_PORT_5432_TCP":       "tcp://10.96.0.13:5432",
		"GRACEKIT_DB_PORT_5432_TCP_PROTO": "tcp",
		"GRACEKIT_DB_PORT_5432_TCP_PORT":  "5432",
		"GRACEKIT_DB_PORT_5432_TCP_ADDR":  "10.96.0.13",
	} {
		t.Setenv(k, v)
	}
	if code, _, errOut := runCode("-config", "app.yaml", "-t"); code != 0 {
		t.Fatalf("with the service links: exit %d: %s", code, errOut)
	}
	// A misspelt setting among them is still refused.
	t.Setenv("GRACEKIT_APP_GRETING", "hi")
	code, _, errOut := runCode("-config", "app.yaml", "-t")
	if want := "invalid configuration: env GRACEKIT_APP_GRETING: no setting has this environment variable: did you mean GRACEKIT_APP_GREETING (app.greeting)?\n"; code != 1 || errOut != want {
		t.Errorf("a misspelt setting: exit %d, stderr %q", code, errOut)
	}
}

func TestMissingConfigFile(t *testing.T) {
	code, _, errOut := runCode("-config", filepath.Join(t.TempDir(), "missing.yaml"), "-t")
	if code != 2 || !strings.Contains(errOut, "cannot read the file") {
		t.Errorf("exit %d, want 2: %s", code, errOut)
	}
}
