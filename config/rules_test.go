package config

import (
	"slices"
	"testing"
	"time"
)

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// m is shorthand for a document mapping.
type m = map[string]any

// ruleCases exercise every loader rule. Each document is written as YAML,
// JSON and TOML (so that each parser's types are met: YAML ints, JSON
// float64, TOML int64) and as environment variables, and the problems
// must be exactly want (or envWant for the environment, when the text
// differs because every environment value is a string).
var ruleCases = []struct {
	name    string
	doc     m
	want    []string
	envWant []string // nil: same as want
	noEnv   bool     // the rule cannot be broken from the environment
}{
	{
		name: "port out of range",
		doc:  m{"server": m{"address": "127.0.0.1:99999"}},
		want: []string{`server.address: the address "127.0.0.1:99999" has the port 99999, out of range: write a port from 0 to 65535 (0 picks any free port)`},
	},
	{
		name: "port not a number",
		doc:  m{"server": m{"address": "localhost:http"}},
		want: []string{`server.address: the address "localhost:http" has the port "http", which is not a number: write a port from 0 to 65535 (0 picks any free port)`},
	},
	{
		name: "no port",
		doc:  m{"server": m{"address": "localhost"}},
		want: []string{`server.address: "localhost" is not an address (missing port in address): write "host:port", ":port", ":0" for any free port, "unix:/absolute/path.sock", or "systemd:NAME" for a socket systemd passes`},
	},
	{
		name: "empty port",
		doc:  m{"server": m{"address": "localhost:"}},
		want: []string{`server.address: the address "localhost:" has no port: write a port from 0 to 65535 after the colon (0 picks any free port)`},
	},
	{
		name: "empty address",
		doc:  m{"server": m{"address": ""}},
		want: []string{`server.address: the address is empty: write "host:port", ":port", ":0" for any free port, "unix:/absolute/path.sock", or "systemd:NAME" for a socket systemd passes`},
	},
	{
		name: "relative unix path",
		doc:  m{"server": m{"address": "unix:run/app.sock"}},
		want: []string{`server.address: the address "unix:run/app.sock" names the relative path "run/app.sock": unix socket paths must be absolute, such as unix:/run/app.sock`},
	},
	{
		name: "unix root",
		doc:  m{"server": m{"address": "unix:/"}},
		want: []string{`server.address: the address "unix:/" names the root directory: write the path of the socket file, such as unix:/run/app.sock`},
	},
	{
		name: "https address checked too",
		doc:  m{"server": m{"httpsAddress": ":70000", "certFile": "c.pem", "keyFile": "k.pem"}},
		want: []string{`server.httpsAddress: the address ":70000" has the port 70000, out of range: write a port from 0 to 65535 (0 picks any free port)`},
	},
	{
		name:    "https address needs both files (written in the file)",
		doc:     m{"server": m{"httpsAddress": ":8443"}},
		want:    []string{`server.httpsAddress: httpsAddress is in this file without certFile and keyFile: a file that sets httpsAddress sets all three`},
		envWant: []string{`server.httpsAddress: ":8443" is set but certFile and keyFile are empty: HTTPS needs a certificate and its key; set both, or leave httpsAddress empty`},
	},
	{
		name: "https address needs both files (empty values)",
		doc:  m{"server": m{"httpsAddress": ":8443", "certFile": "", "keyFile": ""}},
		want: []string{`server.httpsAddress: ":8443" is set but certFile and keyFile are empty: HTTPS needs a certificate and its key; set both, or leave httpsAddress empty`},
	},
	{
		name:    "certFile without keyFile",
		doc:     m{"server": m{"certFile": "c.pem"}},
		want:    []string{`server.certFile: certFile is in this file without keyFile: a file that sets one of them sets both`},
		envWant: []string{`server.certFile: "c.pem" is set but keyFile is empty: a certificate needs its private key; set both or neither`},
	},
	{
		name: "keyFile without certFile",
		doc:  m{"server": m{"keyFile": "k.pem", "certFile": ""}},
		want: []string{`server.keyFile: "k.pem" is set but certFile is empty: a private key needs its certificate; set both or neither`},
	},
	{
		name: "https on the http address, port 0",
		doc:  m{"server": m{"address": "127.0.0.1:0", "httpsAddress": "127.0.0.1:0", "certFile": "c.pem", "keyFile": "k.pem"}},
		want: []string{`server.httpsAddress: "127.0.0.1:0" is also the HTTP address: the HTTP and HTTPS servers need addresses of their own (a process names its sockets by address, port 0 included: give one of them another host, or a port)`},
	},
	{
		name: "https on the http address",
		doc:  m{"server": m{"address": ":8080", "httpsAddress": ":8080", "certFile": "c.pem", "keyFile": "k.pem"}},
		want: []string{`server.httpsAddress: ":8080" is also the HTTP address: the HTTP and HTTPS servers need addresses of their own`},
	},
	{
		name: "size negative string",
		doc:  m{"server": m{"maxHeaderBytes": "-1k"}},
		want: []string{`server.maxHeaderBytes: "-1k" is negative: a size is 0 or more bytes`},
	},
	{
		name:    "size negative number",
		doc:     m{"server": m{"maxHeaderBytes": -1}},
		want:    []string{`server.maxHeaderBytes: -1 is negative: a size is 0 or more bytes`},
		envWant: []string{`server.maxHeaderBytes: "-1" is negative: a size is 0 or more bytes`},
	},
	{
		name: "size fraction of a byte",
		doc:  m{"server": m{"maxHeaderBytes": "1.5"}},
		want: []string{`server.maxHeaderBytes: "1.5" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
	},
	{
		name:    "size fraction as a number",
		doc:     m{"server": m{"maxHeaderBytes": 10.5}},
		want:    []string{`server.maxHeaderBytes: 10.5 is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		envWant: []string{`server.maxHeaderBytes: "10.5" is not a whole number of bytes: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
	},
	{
		name: "size unknown unit",
		doc:  m{"server": m{"maxHeaderBytes": "12xb"}},
		want: []string{`server.maxHeaderBytes: "12xb" has an unknown unit "xb": use b, k, kb, ki, kib, m, mb, mi, mib and so on up to e and eib (k, m and g are powers of 1000; ki, mi and gi powers of 1024)`},
	},
	{
		name: "size digit separator",
		doc:  m{"server": m{"maxHeaderBytes": "1,024"}},
		want: []string{`server.maxHeaderBytes: "1,024" has a digit separator: write 1024`},
	},
	{
		name: "size too large",
		doc:  m{"server": m{"maxHeaderBytes": "9EiB"}},
		want: []string{`server.maxHeaderBytes: "9EiB" is too large: the largest size is 9223372036854775807 bytes (8 EiB - 1)`},
	},
	{
		name:  "size of the wrong type",
		doc:   m{"server": m{"maxHeaderBytes": true}},
		want:  []string{`server.maxHeaderBytes: true is a boolean, not a size: a size is a whole number of bytes (10240) or a number with a unit ("10KiB", "1m" = 1000000, "1MiB" = 1048576)`},
		noEnv: true,
	},
	{
		name: "duration negative",
		doc:  m{"server": m{"readTimeout": "-5s"}},
		want: []string{`server.readTimeout: "-5s" is negative: a duration is 0 or more`},
	},
	{
		name:    "duration negative number",
		doc:     m{"server": m{"gracefulShutdownTimeout": -5}},
		want:    []string{`server.gracefulShutdownTimeout: -5 is negative: a duration is 0 or more`},
		envWant: []string{`server.gracefulShutdownTimeout: "-5" is negative: a duration is 0 or more`},
	},
	{
		name: "duration unknown unit",
		doc:  m{"server": m{"idleTimeout": "1d"}},
		want: []string{`server.idleTimeout: "1d" has an unknown unit "d": use ns, us, ms, s, m or h, as in "1m30s"`},
	},
	{
		name:    "duration without a unit",
		doc:     m{"server": m{"readTimeout": 250}},
		want:    []string{`server.readTimeout: 250 has no unit: write 250ms or 250s`},
		envWant: []string{`server.readTimeout: "250" has no unit: write 250ms or 250s`},
	},
	{
		name:    "duration fraction without a unit",
		doc:     m{"server": m{"readTimeout": 1.9}},
		want:    []string{`server.readTimeout: 1.9 has no unit: write 1.9ms or 1.9s`},
		envWant: []string{`server.readTimeout: "1.9" has no unit: write 1.9ms or 1.9s`},
	},
	{
		name:  "duration of the wrong type",
		doc:   m{"process": m{"upgradeTimeout": false}},
		want:  []string{`process.upgradeTimeout: false is a boolean, not a duration: a duration is a number with a unit, such as "30s", "1m30s" or "250ms" (0 alone needs none)`},
		noEnv: true,
	},
	{
		name: "duration too large",
		doc:  m{"process": m{"shutdownDelay": "3000000h"}},
		want: []string{`process.shutdownDelay: "3000000h" is too large: the longest duration is 2562047h47m16.854775807s`},
	},
	{
		name: "restart mode",
		doc:  m{"process": m{"mode": "restart"}},
		want: []string{`process.mode: "restart" is not a restart mode: use "reexec" or "supervisor"`},
	},
	{
		name: "restart mode near miss",
		doc:  m{"process": m{"mode": "Supervisor"}},
		want: []string{`process.mode: "Supervisor" is not a restart mode: did you mean "supervisor"?`},
	},
	{
		name: "restart signal without SIG",
		doc:  m{"process": m{"restartSignal": "hup"}},
		want: []string{`process.restartSignal: "hup" is not a restart signal: did you mean "SIGHUP"?`},
	},
	{
		name: "restart signal that stops",
		doc:  m{"process": m{"restartSignal": "SIGTERM"}},
		want: []string{`process.restartSignal: "SIGTERM" always means a graceful shutdown, so it cannot trigger a restart: use "SIGHUP", "SIGUSR1" or "SIGUSR2"`},
	},
	{
		name: "too few generations",
		doc:  m{"process": m{"maxGenerations": 1}},
		want: []string{`process.maxGenerations: 1 is too few: at least 2 generations (the serving one and one draining) must be allowed`},
	},
	{
		name:    "generations not whole",
		doc:     m{"process": m{"maxGenerations": 2.5}},
		want:    []string{`process.maxGenerations: 2.5 is not a whole number`},
		envWant: []string{`process.maxGenerations: "2.5" is not a whole number`},
	},
	{
		name:  "generations as a string",
		doc:   m{"process": m{"maxGenerations": "3"}},
		want:  []string{`process.maxGenerations: "3" is a string, not a whole number: write 3 without quotes`},
		noEnv: true,
	},
	{
		name:    "generations out of range",
		doc:     m{"process": m{"maxGenerations": 1e20}},
		want:    []string{`process.maxGenerations: 1e+20 is too large: the largest value is 9223372036854775807`},
		envWant: []string{`process.maxGenerations: "1e+20" is too large: the largest value is 9223372036854775807`},
	},
	{
		name: "unix socket group out of range",
		doc:  m{"server": m{"unixSocketGroup": "99999999999"}},
		want: []string{`server.unixSocketGroup: "99999999999" is not a group ID: write a number from 0 to 4294967294, or a group name`},
	},
	{
		name: "unix socket group negative",
		doc:  m{"server": m{"unixSocketGroup": "-1"}},
		want: []string{`server.unixSocketGroup: "-1" is not a group ID: write a number from 0 to 4294967294, or a group name`},
	},
	{
		name: "readiness path without slash",
		doc:  m{"process": m{"readinessPath": "ready"}},
		want: []string{`process.readinessPath: "ready" does not start with "/": write a URL path such as "/ready", or leave it empty for none`},
	},
	{
		name: "liveness path without slash",
		doc:  m{"process": m{"livenessPath": "live"}},
		want: []string{`process.livenessPath: "live" does not start with "/": write a URL path such as "/live", or leave it empty for none`},
	},
	{
		name: "health paths shared",
		doc:  m{"process": m{"readinessPath": "/health", "livenessPath": "/health"}},
		want: []string{`process.livenessPath: "/health" is also the readinessPath: the two endpoints answer differently, so they need paths of their own`},
	},
	{
		name: "log level",
		doc:  m{"log": m{"level": "warning"}},
		want: []string{`log.level: "warning" is not a log level: did you mean "warn"?`},
	},
	{
		name: "log level unknown",
		doc:  m{"log": m{"level": "loud"}},
		want: []string{`log.level: "loud" is not a log level: use "debug", "info", "warn" or "error"`},
	},
	{
		name: "log format",
		doc:  m{"log": m{"format": "JSON"}},
		want: []string{`log.format: "JSON" is not a log format: did you mean "json"?`},
	},
	{
		name:    "unknown key near miss",
		doc:     m{"server": m{"maxHeaderByte": "1k"}},
		want:    []string{`server.maxHeaderByte: unknown key; did you mean "maxHeaderBytes"?`},
		envWant: []string{`: no setting has this environment variable: did you mean GRACEKIT_SERVER_MAX_HEADER_BYTES (server.maxHeaderBytes)?`},
	},
	{
		name:  "unknown key in another case",
		doc:   m{"server": m{"MaxHeaderBytes": "1k"}},
		want:  []string{`server.MaxHeaderBytes: unknown key; did you mean "maxHeaderBytes"?`},
		noEnv: true, // the variable name is the same
	},
	{
		name:    "unknown section",
		doc:     m{"serverr": m{"address": ":1"}},
		want:    []string{`serverr: unknown key; did you mean "server"?`},
		envWant: []string{`: no setting has this environment variable: did you mean GRACEKIT_SERVER_ADDRESS (server.address)?`},
	},
	{
		name:    "unknown key far from all",
		doc:     m{"log": m{"colour": "auto"}},
		want:    []string{`log.colour: unknown key; the keys of log are level, format`},
		envWant: []string{`: no setting has this environment variable: the variables are named GRACEKIT_ and the key path in upper case with underscores, such as GRACEKIT_SERVER_MAX_HEADER_BYTES`},
	},
	{
		name:  "string of the wrong type",
		doc:   m{"server": m{"address": 8080}},
		want:  []string{`server.address: 8080 is a number, not a string: quote it`},
		noEnv: true,
	},
	{
		name:    "section of the wrong type",
		doc:     m{"server": "127.0.0.1:8080"},
		want:    []string{`server: "127.0.0.1:8080" is a string, not a section: write the keys of server under it (address, httpsAddress, certFile, keyFile, http3, readTimeout, readHeaderTimeout, writeTimeout, idleTimeout, gracefulShutdownTimeout, idleDrainGrace, idleDrainGraceMin, hijackedGrace, maxHeaderBytes, keepAlive, unixSocketMode, unixSocketGroup)`},
		envWant: []string{`: no setting has this environment variable: did you mean GRACEKIT_SERVER_ADDRESS (server.address)?`},
	},
	{
		name:    "boolean of the wrong type",
		doc:     m{"server": m{"keepAlive": "yes"}},
		want:    []string{`server.keepAlive: "yes" is a string, not a boolean: write true or false`},
		envWant: []string{`server.keepAlive: "yes" is not a boolean: write true or false`},
	},
	{
		name:  "boolean as a number",
		doc:   m{"server": m{"keepAlive": 1}},
		want:  []string{`server.keepAlive: 1 is a number, not a boolean: write true or false`},
		noEnv: true, // "1" is true for strconv.ParseBool
	},
	{
		name: "every problem at once",
		doc: m{
			"server":  m{"address": "localhost:99999", "readTimeout": "5x", "maxHeaderBytes": "-1k"},
			"process": m{"maxGenerations": 0},
			"log":     m{"level": "loud", "format": "xml"},
		},
		want: []string{
			`server.address: the address "localhost:99999" has the port 99999, out of range: write a port from 0 to 65535 (0 picks any free port)`,
			`server.maxHeaderBytes: "-1k" is negative: a size is 0 or more bytes`,
			`server.readTimeout: "5x" has an unknown unit "x": use ns, us, ms, s, m or h, as in "1m30s"`,
			`process.maxGenerations: 0 is too few: at least 2 generations (the serving one and one draining) must be allowed`,
			`log.format: "xml" is not a log format: use "text" or "json"`,
			`log.level: "loud" is not a log level: use "debug", "info", "warn" or "error"`,
		},
	},
}

func TestRules(t *testing.T) {
	for _, c := range ruleCases {
		for _, format := range []string{"yaml", "json", "toml"} {
			t.Run(c.name+"/"+format, func(t *testing.T) {
				path := writeFile(t, "app."+format, encode(t, format, c.doc))
				cfg := Default()
				before := cfg
				err := Load(&cfg, WithFiles(path), WithoutEnv())
				ps := problemsOf(t, err)
				sameLines(t, "problems", sortedByKeyOrder(ps), sorted(c.want))
				for _, p := range ps {
					if p.Source != path {
						t.Errorf("problem %q has source %q, want %q", p.Error(), p.Source, path)
					}
					if p.Key != "" && p.Line == 0 && format != "toml" {
						t.Errorf("problem %q has no line", p.Error())
					}
				}
				if cfg != before {
					t.Errorf("Load changed cfg although it failed")
				}
			})
		}
		if c.noEnv {
			continue
		}
		t.Run(c.name+"/env", func(t *testing.T) {
			env := envOf(c.doc, nil)
			cfg := Default()
			ps := problemsOf(t, Load(&cfg, WithEnviron(env)))
			want := c.want
			if c.envWant != nil {
				want = c.envWant
			}
			sameLines(t, "problems from "+env[0], sortedByKeyOrder(ps), sorted(want))
			for _, p := range ps {
				if len(p.Source) < 5 || p.Source[:4] != "env " {
					t.Errorf("problem %q does not name its environment variable", p.Error())
				}
			}
		})
	}
}

// sortedByKeyOrder gives the problems as "key: message", sorted: Load
// sorts them by line, which here depends on how each encoder orders keys
// (TestProblemOrder checks the order itself).
func sortedByKeyOrder(ps []Problem) []string {
	out := keyMessages(ps)
	slices.Sort(out)
	return out
}

// TestValidValues checks documents that every format loads, and the
// values they give.
func TestValidValues(t *testing.T) {
	doc := m{
		"server": m{
			"address":                 "unix:/run/app.sock",
			"httpsAddress":            "[::1]:8443",
			"certFile":                "/etc/tls/c.pem",
			"keyFile":                 "/etc/tls/k.pem",
			"readTimeout":             "30s",
			"readHeaderTimeout":       "1m30s",
			"writeTimeout":            "0",
			"gracefulShutdownTimeout": 0,
			"maxHeaderBytes":          "1m",
			"keepAlive":               false,
		},
		"process": m{"mode": "supervisor", "restartSignal": "SIGUSR2", "maxGenerations": 4, "readinessPath": "/ready", "livenessPath": "/live"},
		"log":     m{"level": "debug", "format": "json"},
	}
	want := Default()
	want.Server = Server{
		Address: "unix:/run/app.sock", HTTPSAddress: "[::1]:8443", CertFile: "/etc/tls/c.pem", KeyFile: "/etc/tls/k.pem",
		ReadTimeout: Duration(30 * time.Second), ReadHeaderTimeout: Duration(90 * time.Second), WriteTimeout: 0,
		IdleTimeout: want.Server.IdleTimeout, GracefulShutdownTimeout: 0,
		IdleDrainGrace: want.Server.IdleDrainGrace, IdleDrainGraceMin: want.Server.IdleDrainGraceMin, HijackedGrace: want.Server.HijackedGrace,
		MaxHeaderBytes: 1000000, KeepAlive: false,
	}
	want.Process.Mode = "supervisor"
	want.Process.RestartSignal = "SIGUSR2"
	want.Process.MaxGenerations = 4
	want.Process.ReadinessPath = "/ready"
	want.Process.LivenessPath = "/live"
	want.Log = Log{Level: "debug", Format: "json"}
	for _, format := range []string{"yaml", "json", "toml", "env"} {
		t.Run(format, func(t *testing.T) {
			cfg := Default()
			var err error
			if format == "env" {
				err = Load(&cfg, WithEnviron(envOf(doc, nil)))
			} else {
				err = Load(&cfg, WithFiles(writeFile(t, "app."+format, encode(t, format, doc))), WithoutEnv())
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg != want {
				t.Errorf("got  %+v\nwant %+v", cfg, want)
			}
		})
	}
}

// TestAddressesFollowGraceful checks that the loader accepts every server
// address the graceful package serves, systemd:NAME included, with
// graceful.ParseAddress's own words for the others.
func TestAddressesFollowGraceful(t *testing.T) {
	for _, addr := range []string{"systemd:web", "unix:/run/app.sock", "[::1]:0", ":8080"} {
		cfg := Default()
		if err := Load(&cfg, withDocument("app.yaml", "yaml", []byte("server:\n  address: \""+addr+"\"\n")), WithoutEnv()); err != nil {
			t.Errorf("server.address %q: %v", addr, err)
		}
	}
	cfg := Default()
	err := Load(&cfg, withDocument("app.yaml", "yaml", []byte("server:\n  address: systemd:web\n  httpsAddress: systemd:web\n  certFile: c.pem\n  keyFile: k.pem\n")), WithoutEnv())
	sameLines(t, "problems", keyMessages(problemsOf(t, err)), []string{
		`server.httpsAddress: "systemd:web" is also the HTTP address: the HTTP and HTTPS servers need addresses of their own`,
	})
}
