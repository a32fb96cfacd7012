package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type flagsConfig struct {
	Config `koanf:",squash"`
	App    struct {
		Tags  []string      `koanf:"tags"`
		Ratio float64       `koanf:"ratio"`
		Every time.Duration `koanf:"every"`
	} `koanf:"app"`
}

func TestAddFlags(t *testing.T) {
	def := flagsConfig{Config: Default()}
	def.App.Tags = []string{"a", "b"}
	fs := pflag.NewFlagSet("app", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("server.address", "mine", "registered by the program")
	if err := AddFlags(fs, def, map[string]string{"server.maxHeaderBytes": "Largest `header` block."}); err != nil {
		t.Fatal(err)
	}
	usage := fs.FlagUsages()
	for _, want := range []string{
		"--server.maxHeaderBytes size ", "Largest 'header' block. (default 10KiB)",
		"--app.tags strings ", "(default a,b)",
		"--server.keepAlive ", "boolean (default true)",
		"--server.address string ", "registered by the program (default \"mine\")",
		"--process.restartSignal string ", `(default "SIGHUP")`,
		"--app.every duration ",
	} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q:\n%s", want, usage)
		}
	}
	if err := fs.Parse([]string{"--server.keepAlive=false", "--app.tags", "x, y", "--server.maxHeaderBytes", "1MiB", "--app.every=90s", "--log.level=debug"}); err != nil {
		t.Fatal(err)
	}
	cfg := def
	if err := Load(&cfg, WithFlags(fs), WithEnviron(nil)); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.KeepAlive || strings.Join(cfg.App.Tags, "|") != "x|y" || cfg.Server.MaxHeaderBytes != 1<<20 || cfg.App.Every != 90*time.Second || cfg.Log.Level != "debug" {
		t.Errorf("got %+v %+v", cfg.Server, cfg.App)
	}

	fs = pflag.NewFlagSet("app", pflag.ContinueOnError)
	if err := AddFlags(fs, def, nil); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--server.keepAlive", "--app.ratio=x", "--server.maxHeaderBytes=1,5mb"}); err != nil {
		t.Fatal(err)
	}
	cfg = def
	sameLines(t, "problems", errorLines(t, Load(&cfg, WithFlags(fs), WithEnviron(nil))), []string{
		`flag --app.ratio: app.ratio: "x" is not a number`,
		`flag --server.maxHeaderBytes: server.maxHeaderBytes: "1,5mb" has a decimal comma: write 1.5mb (1500000 bytes)`,
	})
	if err := AddFlags(pflag.NewFlagSet("x", pflag.ContinueOnError), 42, nil); err == nil {
		t.Error("AddFlags(42) accepted")
	}
}

func TestAddGoFlags(t *testing.T) {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	var help strings.Builder
	fs.SetOutput(&help)
	if err := AddGoFlags(fs, Default(), map[string]string{"server.readTimeout": "Longest read."}); err != nil {
		t.Fatal(err)
	}
	fs.PrintDefaults()
	if !strings.Contains(help.String(), "  -server.readTimeout duration\n    \tLongest read. (a duration) (default 1m0s)\n") {
		t.Errorf("help:\n%s", help.String())
	}
	if err := fs.Parse([]string{"-server.keepAlive=false", "-server.readTimeout", "5s", "-server.maxHeaderBytes", "2k"}); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	if err := Load(&cfg, WithGoFlags(fs), WithEnviron(nil)); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.KeepAlive || cfg.Server.ReadTimeout != Duration(5*time.Second) || cfg.Server.MaxHeaderBytes != 2000 {
		t.Errorf("got %+v", cfg.Server)
	}
}
