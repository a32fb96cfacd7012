package config

import (
	"strings"
	"testing"
)

// serviceLinks returns the variables Kubernetes sets for a Service named
// name (upper case, dashes as underscores) on 10.0.0.1 with one TCP port
// 80 named http and one UDP port 53.
func serviceLinks(name string) []string {
	return []string{
		name + "_SERVICE_HOST=10.0.0.1",
		name + "_SERVICE_PORT=80",
		name + "_SERVICE_PORT_HTTP=80",
		name + "_SERVICE_PORT_DNS=53",
		name + "_PORT=tcp://10.0.0.1:80",
		name + "_PORT_80_TCP=tcp://10.0.0.1:80",
		name + "_PORT_80_TCP_PROTO=tcp",
		name + "_PORT_80_TCP_PORT=80",
		name + "_PORT_80_TCP_ADDR=10.0.0.1",
		name + "_PORT_53_UDP=udp://10.0.0.1:53",
		name + "_PORT_53_UDP_PROTO=udp",
		name + "_PORT_53_UDP_PORT=53",
		name + "_PORT_53_UDP_ADDR=10.0.0.1",
	}
}

// TestServiceLinksAreIgnored checks that the variables Kubernetes injects
// for Services named like the prefix ("gracekit", "gracekit-db", an IPv6
// cluster) do not stop the program, with a debug line, while a misspelt
// setting is still refused with a suggestion.
func TestServiceLinksAreIgnored(t *testing.T) {
	env := append(serviceLinks("GRACEKIT"), serviceLinks("GRACEKIT_DB")...)
	env = append(env, "GRACEKIT_V6_SERVICE_HOST=fd00::1", "GRACEKIT_V6_PORT=tcp://[fd00::1]:8443", "GRACEKIT_V6_PORT_8443_TCP_ADDR=fd00::1")
	env = append(env, "GRACEKIT_SERVER_ADDRESS=:9090")
	cfg := Default()
	if err := Load(&cfg, WithEnviron(env)); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Address != ":9090" {
		t.Errorf("server.address = %q", cfg.Server.Address)
	}

	// Misspelt settings, and names of the right shape with values that
	// Kubernetes never writes, are refused as before.
	cfg = Default()
	err := Load(&cfg, WithEnviron(append(serviceLinks("GRACEKIT"),
		"GRACEKIT_SERVER_ADRESS=:8080",
		"GRACEKIT_PORT_80_TCP_PROTO=udp",
		"GRACEKIT_SERVICE_HOST=myhost",
		"GRACEKIT_X_PORT=8080",
		"GRACEKIT_X_PORT_81_TCP=tcp://10.0.0.1:80",
	)))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env GRACEKIT_PORT_80_TCP_PROTO: no setting has this environment variable: the variables are named GRACEKIT_ and the key path in upper case with underscores, such as GRACEKIT_SERVER_MAX_HEADER_BYTES`,
		`env GRACEKIT_SERVER_ADRESS: no setting has this environment variable: did you mean GRACEKIT_SERVER_ADDRESS (server.address)?`,
		`env GRACEKIT_SERVICE_HOST: no setting has this environment variable: the variables are named GRACEKIT_ and the key path in upper case with underscores, such as GRACEKIT_SERVER_MAX_HEADER_BYTES`,
		`env GRACEKIT_X_PORT: no setting has this environment variable: the variables are named GRACEKIT_ and the key path in upper case with underscores, such as GRACEKIT_SERVER_MAX_HEADER_BYTES`,
		`env GRACEKIT_X_PORT_81_TCP: no setting has this environment variable: the variables are named GRACEKIT_ and the key path in upper case with underscores, such as GRACEKIT_SERVER_MAX_HEADER_BYTES`,
	})
}

// TestServiceLinkNamesCanBeSettings checks that a setting whose variable
// has a service link's name still works, and that a value Kubernetes set
// for it is explained.
func TestServiceLinkNamesCanBeSettings(t *testing.T) {
	type svc struct {
		Host string `koanf:"host"`
	}
	type cfgType struct {
		Service svc `koanf:"service"`
		Port    int `koanf:"port"`
	}
	var cfg cfgType
	err := Load(&cfg, WithEnvPrefix("MYAPP_"), WithEnviron([]string{"MYAPP_SERVICE_HOST=10.0.0.9", "MYAPP_PORT=8080", "MYAPP_SERVICE_PORT=80"}))
	if err != nil || cfg.Service.Host != "10.0.0.9" || cfg.Port != 8080 {
		t.Errorf("Load: %v, %+v", err, cfg)
	}
	err = Load(&cfg, WithEnvPrefix("MYAPP_"), WithEnviron([]string{"MYAPP_SERVICE_HOTS=10.0.0.9"}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env MYAPP_SERVICE_HOTS: no setting has this environment variable: did you mean MYAPP_SERVICE_HOST (service.host)?`,
	})
	err = Load(&cfg, WithEnvPrefix("MYAPP_"), WithEnviron([]string{"MYAPP_PORT=tcp://10.0.0.1:80"}))
	sameLines(t, "problems", errorLines(t, err), []string{
		`env MYAPP_PORT: port: "tcp://10.0.0.1:80" is not a whole number (MYAPP_PORT is also a variable Kubernetes sets for a Service named myapp: a value set in the pod's env wins over it; or set enableServiceLinks: false in the pod)`,
	})
}

// TestToolVariablesAreNotSettings: GRACEKIT_REQUIRE_TOOLS=1, exported for
// gracekit's own tests, does not stop a program that loads its settings;
// a misspelt setting beside it is still refused.
func TestToolVariablesAreNotSettings(t *testing.T) {
	cfg := Default()
	if err := Load(&cfg, WithEnviron([]string{"GRACEKIT_REQUIRE_TOOLS=1", "GRACEKIT_REQUIRE_NSPAWN=1"})); err != nil {
		t.Fatalf("tool variables refused: %v", err)
	}
	cfg = Default()
	err := Load(&cfg, WithEnviron([]string{"GRACEKIT_REQUIRE_TOOLS=1", "GRACEKIT_SERVER_ADRESS=:1"}))
	if err == nil || !strings.Contains(err.Error(), "GRACEKIT_SERVER_ADRESS") || strings.Contains(err.Error(), "REQUIRE_TOOLS") {
		t.Fatalf("err = %v, want GRACEKIT_SERVER_ADRESS refused alone", err)
	}
}
