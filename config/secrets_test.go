package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "level")
	if err := os.WriteFile(secret, []byte("debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	crlf := filepath.Join(dir, "size")
	if err := os.WriteFile(crlf, []byte("1MiB\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	env := []string{"GRACEKIT_LOG_LEVEL_FILE=" + secret, "GRACEKIT_SERVER_MAX_HEADER_BYTES_FILE=" + crlf}
	if err := Load(&cfg, WithEnviron(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Server.MaxHeaderBytes != 1<<20 {
		t.Errorf("level %q, maxHeaderBytes %d", cfg.Log.Level, cfg.Server.MaxHeaderBytes)
	}

	// Check does not print the secret.
	var out bytes.Buffer
	cfg = Default()
	if err := Check(&out, &cfg, WithEnviron(env)); err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(` +#`).ReplaceAllString(out.String(), " #")
	if !strings.Contains(got, `level: "(secret)" # read from `+secret+"; env GRACEKIT_LOG_LEVEL_FILE\n") || strings.Contains(got, "debug") {
		t.Errorf("Check output:\n%s", out.String())
	}

	missing := filepath.Join(dir, "missing")
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("lots"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, bytes.Repeat([]byte("x"), MaxFileSize+1), 0o600)
	cfg = Default()
	err := Load(&cfg, WithEnviron([]string{
		"GRACEKIT_PROCESS_PID_FILE_FILE=" + missing,
		"GRACEKIT_PROCESS_MAX_GENERATIONS_FILE=" + bad,
		"GRACEKIT_LOG_FORMAT=json", "GRACEKIT_LOG_FORMAT_FILE=" + secret,
		"GRACEKIT_SERVER_ADDRESS_FILE=",
		"GRACEKIT_SERVER_KEY_FILE_FILE=" + big,
	}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env GRACEKIT_LOG_FORMAT_FILE: log.format: both GRACEKIT_LOG_FORMAT and GRACEKIT_LOG_FORMAT_FILE are set: set the value, or the file that holds it, not both`,
		`env GRACEKIT_PROCESS_MAX_GENERATIONS_FILE: process.maxGenerations: the content of ` + bad + ` is not a whole number`,
		`env GRACEKIT_PROCESS_PID_FILE_FILE: process.pidFile: cannot read the file that holds the value of process.pidFile: open ` + missing + `: no such file or directory`,
		`env GRACEKIT_SERVER_ADDRESS_FILE: server.address: the variable is empty: it names the file that holds the value of server.address, such as /run/secrets/server_address`,
		`env GRACEKIT_SERVER_KEY_FILE_FILE: server.keyFile: ` + big + `: the file is 128 KiB (131073 bytes), larger than the limit of 128 KiB (config.MaxFileSize): a configuration file holds settings, not data; split it, or move the data to a file of its own`,
	})
	if cfg != Default() {
		t.Error("a failed Load changed cfg")
	}
}

func TestSecretFileNameClash(t *testing.T) {
	type clash struct {
		Password     string `koanf:"password"`
		PasswordFile string `koanf:"passwordFile"`
	}
	cfg := clash{}
	err := Load(&cfg, WithEnviron(nil))
	if err == nil || !strings.Contains(err.Error(), "GRACEKIT_PASSWORD_FILE, which would hold the file of password, is the variable of passwordFile") {
		t.Errorf("got %v", err)
	}
}
