package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserTypeInTempModule generates the schema of a configuration type
// in a module of its own that requires gracekit through a replace
// directive, offline once the module is tidy, as a user's go:generate
// line would.
func TestUserTypeInTempModule(t *testing.T) {
	dir := userModule(t, shopFiles())

	pkg := filepath.Join(dir, "settings")
	var errOut bytes.Buffer
	if code := runSchema(pkg, []string{"-type", "Shop", "-defaults", "Defaults", "-out", "shop.schema.json", "-docs", "shop.md", "-yaml", "shop.yaml"}, &errOut); code != exitOK {
		t.Fatalf("gen schema -type: exit %d\n%s", code, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(pkg, genTestFile)); err == nil {
		t.Error("the generator's test file was left in the package")
	}
	out, err := os.ReadFile(filepath.Join(pkg, "shop.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ID          string `json:"$id"`
		Title       string
		Description string
		Properties  map[string]struct {
			Description string
			Properties  map[string]struct {
				Description string
				Default     any
			}
		}
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	if s.ID != "https://example.com/shop/settings/shop.schema.json" || s.Title != "Shop configuration" || s.Description != "Shop is the shop's configuration file." {
		t.Errorf("root: %q %q %q", s.ID, s.Title, s.Description)
	}
	cat := s.Properties["catalog"]
	if cat.Description != "What the shop sells." || cat.Properties["maxPicture"].Description != "Largest picture of an article." ||
		cat.Properties["maxPicture"].Default != float64(5<<20) || cat.Properties["currency"].Default != "EUR" {
		t.Errorf("catalog: %+v", cat)
	}
	if d := s.Properties["server"].Properties["readTimeout"].Description; !strings.HasPrefix(d, "Longest time to read a whole request") {
		t.Errorf("the embedded gracekit section has no description: %q", d)
	}

	var stdout bytes.Buffer
	if code := runCheck(dir, nil, &stdout, &errOut); code != exitOK {
		t.Fatalf("gen check in the user's module: exit %d\n%s%s", code, stdout.String(), errOut.String())
	}
	os.WriteFile(filepath.Join(pkg, "shop.schema.json"), append(out, '\n'), 0o644)
	if code := runCheck(dir, nil, &stdout, &errOut); code != exitInvalid || stdout.String() != "stale: settings/shop.schema.json\n" {
		t.Errorf("gen check of a stale user schema: exit %d, %q", code, stdout.String())
	}
}

// shopFiles is the source of a user's module, example.com/shop: a
// configuration type that embeds gracekit's next to a section of its own,
// with the go:generate line the README shows.
func shopFiles() map[string]string {
	return map[string]string{
		"settings/settings.go": `// Package settings holds the shop's configuration.
package settings

import "github.com/gracekit/gracekit/config"

` + "//go:" + `generate go tool gen schema -type Shop -defaults Defaults -out shop.schema.json -docs shop.md -yaml shop.yaml

// Shop is the shop's configuration file.
type Shop struct {
	config.Config ` + "`koanf:\",squash\"`" + `
	// What the shop sells.
	Catalog Catalog ` + "`koanf:\"catalog\"`" + `
}

// Catalog lists the shop's articles.
type Catalog struct {
	// Largest picture of an article.
	MaxPicture config.Size ` + "`koanf:\"maxPicture\"`" + `
	// Currency of the prices.
	Currency string ` + "`koanf:\"currency\"`" + `
	// Token of the payment provider.
	PaymentToken string ` + "`koanf:\"paymentToken\" secret:\"true\"`" + `
}

// Defaults returns the shop's defaults.
func Defaults() Shop {
	return Shop{Config: config.Default(), Catalog: Catalog{MaxPicture: 5 << 20, Currency: "EUR", PaymentToken: "sk-test-default"}}
}
`,
	}
}

// TestGoGenerateInFreshModule runs the documented workflow in a module
// that requires only gracekit and runs gen as a tool: go generate writes
// the schema, the reference and the default file; go tool gen check
// passes, and fails once a file is edited; go mod tidy keeps what the
// tool needs. Everything after the first go mod tidy runs offline.
func TestGoGenerateInFreshModule(t *testing.T) {
	dir := userModule(t, shopFiles())
	modBefore, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	sumBefore, _ := os.ReadFile(filepath.Join(dir, "go.sum"))

	if out, err := goCmd(dir, "generate", "./..."); err != nil {
		t.Fatalf("go generate ./...: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "settings", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	docs := read("shop.md")
	for _, want := range []string{
		"# Shop configuration reference\n",
		"The JSON Schema [shop.schema.json](shop.schema.json) describes",
		"| `catalog.maxPicture` | size | `5242880` (5.0 MiB) | `GRACEKIT_CATALOG_MAX_PICTURE` | Largest picture of an article. |\n",
		"| `catalog.currency` | string | `\"EUR\"` | `GRACEKIT_CATALOG_CURRENCY` | Currency of the prices. |\n",
		"| `server.maxHeaderBytes` | size | `10240` (10 KiB) | `GRACEKIT_SERVER_MAX_HEADER_BYTES` |",
		"`GRACEKIT_CATALOG_MAX_PICTURE_FILE=/run/secrets/name`",
		"| `catalog.paymentToken` | string, secret | (secret) | `GRACEKIT_CATALOG_PAYMENT_TOKEN` | Token of the payment provider. |\n",
	} {
		if !strings.Contains(docs, want) {
			t.Errorf("shop.md lacks %q:\n%s", want, docs)
		}
	}
	yaml := read("shop.yaml")
	for _, want := range []string{
		"# yaml-language-server: $schema=shop.schema.json\n",
		"\n# What the shop sells.\ncatalog:\n  # Largest picture of an article.\n  maxPicture: 5242880\n",
		"\nserver:\n",
		"  # Token of the payment provider.\n  # paymentToken is a secret: set GRACEKIT_CATALOG_PAYMENT_TOKEN_FILE or GRACEKIT_CATALOG_PAYMENT_TOKEN\n",
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("shop.yaml lacks %q:\n%s", want, yaml)
		}
	}
	for _, name := range []string{"shop.md", "shop.yaml", "shop.schema.json"} {
		if strings.Contains(read(name), "sk-test-default") {
			t.Errorf("%s shows the default of a secret", name)
		}
	}
	if out, err := goCmd(dir, "tool", "gen", "check"); err != nil {
		t.Errorf("go tool gen check: %v\n%s", err, out)
	}
	if out, err := goCmd(dir, "tool", "gen", "validate", "settings/shop.yaml"); err != nil {
		t.Errorf("the generated default file is invalid: %v\n%s", err, out)
	}
	bad := "# yaml-language-server: $schema=shop.schema.json\ncatalog:\n  maxPicture: 1,5mb\n  curency: USD\n"
	if err := os.WriteFile(filepath.Join(dir, "settings", "bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := goCmd(dir, "tool", "gen", "validate", "-format", "github", "settings/bad.yaml")
	want := "::error file=settings/bad.yaml,line=3,col=3,title=catalog.maxPicture::\"1,5mb\" has a decimal comma: write 1.5mb (1500000 bytes)\n" +
		"::error file=settings/bad.yaml,line=4,col=3,title=catalog.curency::unknown key; did you mean \"currency\"?\n"
	if err == nil || !strings.HasPrefix(out, want) {
		t.Errorf("go tool gen validate -format github: %v\n%s\nwant:\n%s", err, out, want)
	}
	if out, err := goCmd(dir, "mod", "tidy"); err != nil {
		t.Errorf("go mod tidy after go generate: %v\n%s", err, out)
	}
	modAfter, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	sumAfter, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	if !bytes.Equal(modBefore, modAfter) || !bytes.Equal(sumBefore, sumAfter) {
		t.Errorf("go mod tidy changed go.mod or go.sum:\n%s", modAfter)
	}

	os.WriteFile(filepath.Join(dir, "settings", "shop.md"), []byte(docs+"hand edit\n"), 0o644)
	out, err = goCmd(dir, "tool", "gen", "check")
	if err == nil || !strings.Contains(out, "stale: settings/shop.md\n") || strings.Contains(out, "shop.yaml") {
		t.Errorf("go tool gen check after a hand edit: %v\n%s", err, out)
	}
}
