package config

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gracekit/gracekit/graceful"
)

// fillDistinct gives every field of the struct v a value different from
// its zero value and from every other field's, and returns them by name.
func fillDistinct(t *testing.T, v reflect.Value) map[string]any {
	t.Helper()
	out := map[string]any{}
	for i := range v.NumField() {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch {
		case f.Type() == reflect.TypeFor[graceful.RestartMode]():
			f.SetString(string(graceful.RestartModeSupervisor))
		case name == "RestartSignal":
			f.SetString("SIGUSR2")
		case f.Kind() == reflect.String:
			f.SetString("/value/" + name)
		case f.Kind() == reflect.Bool:
			f.SetBool(!f.Bool())
		case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
			f.SetInt(int64(i+1)*1000 + 7)
		default:
			t.Fatalf("fillDistinct: field %s has kind %s", name, f.Kind())
		}
		out[name] = f.Interface()
	}
	return out
}

// compareMapped checks that every field of cfg named in fields holds the
// value given to the config field of the same name, and that the fields
// on each side are the expected ones.
func compareMapped(t *testing.T, fields map[string]any, cfg reflect.Value, onlyConfig, onlyGraceful []string, convert func(name string, v any) any) {
	t.Helper()
	graceFields := map[string]bool{}
	for i := range cfg.NumField() {
		name := cfg.Type().Field(i).Name
		graceFields[name] = true
		if _, ok := fields[name]; !ok {
			if !contains(onlyGraceful, name) {
				t.Errorf("%s.%s has no counterpart in the config section: add it (and its key) or list it as not file-configurable", cfg.Type(), name)
			}
			continue
		}
		want := convert(name, fields[name])
		if got := cfg.Field(i).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s.%s = %v, want %v from the config section", cfg.Type(), name, got, want)
		}
	}
	for name := range fields {
		if !graceFields[name] && !contains(onlyConfig, name) {
			t.Errorf("config field %s is not mapped to %s", name, cfg.Type())
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestServerMapping(t *testing.T) {
	var s Server
	fields := fillDistinct(t, reflect.ValueOf(&s).Elem())
	gc := s.ServerConfig()
	compareMapped(t, fields, reflect.ValueOf(gc),
		[]string{"Address", "HTTPSAddress", "CertFile", "KeyFile", "HTTP3"}, // used by NewServers and the http3 module
		[]string{"Listeners", "Handler", "Logger"},                          // set in code
		func(name string, v any) any {
			switch v := v.(type) {
			case Duration:
				return time.Duration(v)
			case Size:
				return int(v)
			}
			if name == "UnixSocketMode" {
				return parseSocketMode(v.(string))
			}
			return v
		})
}

func TestProcessMapping(t *testing.T) {
	var p Process
	fields := fillDistinct(t, reflect.ValueOf(&p).Elem())
	gc, err := p.ProcessConfig()
	if err != nil {
		t.Fatal(err)
	}
	compareMapped(t, fields, reflect.ValueOf(gc),
		[]string{"MetricsPath"},          // served by the program, not by graceful
		[]string{"Executable", "Logger"}, // set in code
		func(name string, v any) any {
			switch v := v.(type) {
			case Duration:
				return time.Duration(v)
			}
			if name == "RestartSignal" {
				sig, err := graceful.SignalByName(v.(string))
				if err != nil {
					t.Fatal(err)
				}
				return sig
			}
			return v
		})
	p.RestartSignal = "SIGKILL"
	if _, err := p.ProcessConfig(); err == nil || !strings.Contains(err.Error(), "process.restartSignal") {
		t.Errorf("ProcessConfig with SIGKILL: %v", err)
	}
}

func TestDefaultsComeFromGraceful(t *testing.T) {
	d := Default()
	if d.Server.Address != graceful.DefaultAddress {
		t.Errorf("address %q", d.Server.Address)
	}
	if got, want := d.Server.ServerConfig(), graceful.DefaultServerConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default().Server.ServerConfig() = %+v\nwant graceful.DefaultServerConfig() = %+v", got, want)
	}
	got, err := d.Process.ProcessConfig()
	if err != nil {
		t.Fatal(err)
	}
	if want := graceful.DefaultProcessConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default().Process.ProcessConfig() = %+v\nwant graceful.DefaultProcessConfig() = %+v", got, want)
	}
	if d.Process.RestartSignal != graceful.DefaultRestartSignalName || d.Log.Level != DefaultLogLevel || d.Log.Format != DefaultLogFormat {
		t.Errorf("defaults %+v %+v", d.Process, d.Log)
	}
	if err := Validate(d); err != nil {
		t.Errorf("the defaults are invalid: %v", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	Log{Level: "warn", Format: "json"}.NewLogger(&buf).Info("hidden")
	Log{Level: "warn", Format: "json"}.NewLogger(&buf).Warn("shown", "k", 1)
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown","k":1`) {
		t.Errorf("json logger wrote %q", out)
	}
	buf.Reset()
	Log{Level: "debug", Format: "text"}.NewLogger(&buf).Debug("fine")
	if out := buf.String(); !strings.Contains(out, "level=DEBUG msg=fine") {
		t.Errorf("text logger wrote %q", out)
	}
	for level, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v", level, got)
		}
	}
}
