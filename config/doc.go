// Package config loads the configuration of a gracekit server from YAML,
// JSON or TOML files, environment variables and command-line flags, checks
// it, and turns it into running servers.
//
// A configuration file looks like this (every key is optional; the values
// shown are the defaults):
//
//	server:
//	  address: "127.0.0.1:8080"   # host:port, :port, ":0" or unix:/absolute/path
//	  httpsAddress: ""            # set it, certFile and keyFile to serve HTTPS too
//	  certFile: ""
//	  keyFile: ""
//	  readTimeout: 1m             # a Go duration with its unit (0 needs none)
//	  readHeaderTimeout: 10s
//	  writeTimeout: 0s
//	  idleTimeout: 1m
//	  gracefulShutdownTimeout: 30s
//	  idleDrainGrace: 1s
//	  idleDrainGraceMin: 500ms
//	  hijackedGrace: 5s
//	  maxHeaderBytes: 10KiB       # bytes, or "10KiB", "1m" (= 1000000), "1MiB"
//	  keepAlive: true
//	process:
//	  mode: reexec                # or supervisor
//	  restartSignal: SIGHUP       # or SIGUSR1, SIGUSR2
//	  upgradeTimeout: 1m
//	  maxGenerations: 3
//	  pidFile: ""
//	  shutdownDelay: 0s
//	  readinessPath: ""           # such as /ready
//	  livenessPath: ""            # such as /live
//	  metricsPath: ""             # such as /metrics (served by the program)
//	log:
//	  level: info                 # debug, info, warn or error
//	  format: text                # or json
//
// Load reads it over the defaults, then the environment
// (GRACEKIT_SERVER_MAX_HEADER_BYTES=1MiB sets server.maxHeaderBytes), then
// the flags (--server.address=:9090):
//
//	cfg := config.Default()
//	if err := config.Load(&cfg, config.WithFiles("app.yaml")); err != nil {
//		fmt.Fprintln(os.Stderr, err) // every problem, with file and line
//		os.Exit(1)
//	}
//	servers, err := cfg.Server.NewServers(nil, mux, cfg.Log.NewLogger(os.Stderr))
//
// A variable named after a key's with _FILE appended reads the value from
// a file (GRACEKIT_DB_PASSWORD_FILE=/run/secrets/db, for secrets), and
// [AddFlags] or [AddGoFlags] register a flag for every key.
//
// Loading is strict: an unknown key (with a suggestion for near misses
// such as maxHeaderByte), a value of the wrong type (YAML's yes is a
// string, not a boolean), a negative size, a duration without a unit or a
// YAML tag of its own (!include) are errors, and Load reports all of them
// at once (up to [MaxProblems]) in an *[Error] whose [Problem] values give
// the key, the value, the file and line (or the environment variable, or
// the flag) and what is accepted. A YAML whole number not written in plain
// decimal (1_000, 0x10, 0660) is read as its text, as the same text in an
// environment variable is: unixSocketMode: 0660 is "0660", and a size of
// 1_000 an error. A file larger than [MaxFileSize] (128 KiB), nested
// deeper than [MaxDepth] or with more than [MaxKeys] keys in one mapping
// is refused: a bad file costs bounded time and memory at every restart. A
// file that is a named pipe (a FIFO, a shell's process substitution), a
// terminal or a device is read within 10 seconds; a named pipe that no
// process writes to is refused at once, where opening it would wait for a
// writer for ever.
//
// Programs add settings of their own by embedding [Config], or some of its
// sections, in a struct of theirs; their fields get the same sizes,
// durations, environment variables and strictness, rules of their own
// through [Validator], secrets that are never shown through the tag
// secret:"true" ([SecretTag]) and keys a configuration must set through
// jsonschema:"required" ([RequiredTag]).
//
// Sizes ([Size]) use go-humanize's units: k, m and g are powers of 1000
// and ki, mi and gi powers of 1024, so "1m" is 1000000 bytes and "1MiB"
// is 1048576. Durations ([Duration]) are Go durations with their unit,
// such as "1m30s" or "250ms": a bare number other than 0 is refused with
// the fix, as 250 could mean milliseconds or seconds.
package config
