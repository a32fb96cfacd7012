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
	dir := userModule(t, map[string]string{
		"settings/settings.go": `// Package settings holds the shop's configuration.
package settings

import "github.com/gracekit/gracekit/config"

` + "//go:" + `generate go tool gen schema -type Shop -defaults Defaults -out shop.schema.json

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
}

// Defaults returns the shop's defaults.
func Defaults() Shop {
	return Shop{Config: config.Default(), Catalog: Catalog{MaxPicture: 5 << 20, Currency: "EUR"}}
}
`,
	})

	pkg := filepath.Join(dir, "settings")
	var errOut bytes.Buffer
	if code := runSchema(pkg, []string{"-type", "Shop", "-defaults", "Defaults", "-out", "shop.schema.json"}, &errOut); code != exitOK {
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
