package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shopdFiles is a user's module whose command embeds the schema that its
// own go:generate line writes, with a required key, a secret and rules of
// its own, and an nginx -t style mode.
func shopdFiles() map[string]string {
	return map[string]string{
		"cmd/shopd/main.go": `// Command shopd is a shop's server.
package main

` + "//go:" + `generate go tool gen schema -type Config -defaults Defaults -env-prefix SHOP_ -out shop.schema.json -docs shop.md -yaml shop.default.yaml

import (
	_ "embed"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/schema"
)

` + "//go:" + `embed shop.schema.json
var schemaJSON []byte

// Config is the configuration of shopd.
type Config struct {
	config.Config ` + "`koanf:\",squash\"`" + `
	// The shop's own settings.
	Shop Shop ` + "`koanf:\"shop\"`" + `
}

// Shop holds the shop's settings.
type Shop struct {
	// URL of the payment service.
	PaymentURL string ` + "`koanf:\"paymentURL\" jsonschema:\"required\"`" + `
	// Token of the payment service.
	PaymentToken string ` + "`koanf:\"paymentToken\" secret:\"true\"`" + `
	// Most items in one order.
	MaxItems int ` + "`koanf:\"maxItems\"`" + `
}

// Validate holds the shop's own rules.
func (s Shop) Validate() []config.Problem {
	var ps []config.Problem
	if s.MaxItems < 1 {
		ps = append(ps, config.Problem{Key: "maxItems", Message: fmt.Sprintf("%d is too few: an order holds at least 1 item", s.MaxItems)})
	}
	if s.PaymentURL != "" && !strings.HasPrefix(s.PaymentURL, "https://") {
		ps = append(ps, config.Problem{Key: "paymentURL", Message: fmt.Sprintf("%q does not start with https://: payments go over TLS", s.PaymentURL)})
	}
	return ps
}

// Defaults returns shopd's defaults.
func Defaults() Config {
	return Config{Config: config.Default(), Shop: Shop{MaxItems: 10}}
}

func main() {
	fs := flag.NewFlagSet("shopd", flag.ContinueOnError)
	file := fs.String("config", "", "configuration file")
	test := fs.Bool("t", false, "check the configuration, print it and exit")
	cfg := Defaults()
	usage, err := schema.Descriptions(schemaJSON)
	if err == nil {
		err = config.AddGoFlags(fs, cfg, usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	opts := []config.Option{config.WithEnvPrefix("SHOP_"), config.WithGoFlags(fs)}
	if *file != "" {
		opts = append(opts, config.WithFiles(*file))
	}
	if err := config.Check(os.Stdout, &cfg, opts...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if !*test {
		fmt.Println("serving")
	}
}
`,
	}
}

// TestValidateAgreesWithTheProgram runs the first ten minutes of a user:
// go generate in a package that embeds the schema it is about to write,
// then gen validate and the program's -t on the same files, which must
// say the same, the program's own rules included.
func TestValidateAgreesWithTheProgram(t *testing.T) {
	dir := userModule(t, shopdFiles())
	pkg := filepath.Join(dir, "cmd", "shopd")
	if out, err := goCmd(dir, "generate", "./..."); err != nil {
		t.Fatalf("go generate ./... before the schema exists: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "shopd")
	if out, err := goCmd(dir, "build", "-o", bin, "./cmd/shopd"); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// program runs shopd -config file -t and returns its problems as
	// gen validate prints them, and its exit code.
	program := func(file string, env ...string) ([]string, int) {
		cmd := exec.Command(bin, "-config", file, "-t")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code == 0 {
			return nil, 0
		}
		text := strings.TrimPrefix(strings.TrimSpace(string(out)), "invalid configuration: ")
		var lines []string
		if head, rest, many := strings.Cut(text, ":\n\t"); many && strings.HasSuffix(head, "problems") {
			lines = strings.Split(rest, "\n\t")
		} else {
			lines = []string{text}
		}
		return lines, code
	}
	validate := func(files ...string) ([]string, int) {
		out, err := goCmd(dir, append([]string{"tool", "gen", "validate"}, files...)...)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) == "" {
			return nil, code
		}
		return strings.Split(strings.TrimSpace(out), "\n"), code
	}
	write := func(name, content string) string {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return name
	}

	// The default file gen wrote passes both.
	def := "cmd/shopd/shop.default.yaml"
	if got, code := program(def); code != 0 {
		t.Errorf("shopd -config %s -t: exit %d: %v", def, code, got)
	}
	if got, code := validate(def); code != 0 {
		t.Errorf("gen validate %s: exit %d: %v", def, code, got)
	}

	// A file that breaks the program's own rules: the same lines.
	bad := write("cmd/shopd/bad.yaml", "# yaml-language-server: $schema=shop.schema.json\nshop:\n  paymentURL: http://pay.example\n  maxItems: 0\n")
	wantBad := []string{
		bad + `:3: shop.paymentURL: "http://pay.example" does not start with https://: payments go over TLS`,
		bad + `:4: shop.maxItems: 0 is too few: an order holds at least 1 item`,
	}
	progLines, progCode := program(bad)
	genLines, genCode := validate(bad)
	if progCode != 1 || genCode != 1 || !slices.Equal(progLines, wantBad) || !slices.Equal(genLines, wantBad) {
		t.Errorf("a file that breaks the program's rules:\nshopd -t (exit %d):\n%s\ngen validate (exit %d):\n%s\nwant both:\n%s",
			progCode, strings.Join(progLines, "\n"), genCode, strings.Join(genLines, "\n"), strings.Join(wantBad, "\n"))
	}

	// A required key that nothing sets, in a file copied away from its
	// schema (deploy/prod.yaml still names shop.schema.json): the same
	// key and message.
	prod := write("deploy/prod.yaml", "# yaml-language-server: $schema=shop.schema.json\nshop:\n  maxItems: 3\n")
	const required = `shop.paymentURL: is required, and nothing sets it: write it in the configuration file, or set SHOP_SHOP_PAYMENT_URL`
	progLines, progCode = program(prod)
	genLines, genCode = validate(prod)
	if progCode != 1 || !slices.Equal(progLines, []string{required}) || genCode != 1 || !slices.Equal(genLines, []string{prod + ": " + required}) {
		t.Errorf("a required key:\nshopd -t (exit %d): %q\ngen validate (exit %d): %q", progCode, progLines, genCode, genLines)
	}
	// The environment sets it for the program, with the service links of
	// a Kubernetes Service named shop beside it.
	if got, code := program(prod, "SHOP_SHOP_PAYMENT_URL=https://pay", "SHOP_PORT=tcp://10.0.0.7:80", "SHOP_SERVICE_HOST=10.0.0.7", "SHOP_SERVICE_PORT=80", "SHOP_PORT_80_TCP_ADDR=10.0.0.7"); code != 0 {
		t.Errorf("shopd with the environment: exit %d: %v", code, got)
	}

	// A missing file is a usage error for gen validate.
	if _, code := validate("deploy/missing.yaml"); code != exitUsage {
		t.Errorf("gen validate of a missing file: exit %d, want %d", code, exitUsage)
	}
	if _, err := os.Stat(filepath.Join(pkg, genTestFile)); err == nil {
		t.Error("gen left its test file in the package")
	}
}
