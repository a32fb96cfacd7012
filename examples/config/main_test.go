package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		`maxHeaderBytes: 16 KiB # app.yaml:9`,
		`greeting: "hi from the environment" # env GRACEKIT_APP_GREETING`,
		`maxUploadSize: 1.0 MiB # app.yaml:15`,
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
