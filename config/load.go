package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Option changes what [Load] reads.
type Option func(*options)

type options struct {
	docs      []document
	files     []string
	env       bool
	envPrefix string
	environ   []string
	logger    *slog.Logger
	flags     *pflag.FlagSet
	flagDash  string // how the flags are written: "--" for pflag, "-" for flag
	limits    limits
}

// WithFiles reads configuration files, in order: a later file overrides
// the keys an earlier one set. The format comes from the extension: .yaml
// or .yml, .json, .toml.
func WithFiles(paths ...string) Option {
	return func(o *options) { o.files = append(o.files, paths...) }
}

// WithEnvPrefix sets the prefix of the environment variables that are
// read (GRACEKIT_ by default). With an empty prefix, variables are named
// after the keys alone (SERVER_ADDRESS), and variables that set nothing
// are not reported.
func WithEnvPrefix(prefix string) Option {
	return func(o *options) { o.envPrefix = prefix }
}

// WithEnviron reads the environment variables from vars, written
// "NAME=value", instead of the process's environment.
func WithEnviron(vars []string) Option {
	return func(o *options) { o.environ = vars }
}

// WithLogger gives Load a logger for what it ignores on purpose, at the
// debug level: the variables Kubernetes sets for Services whose names
// start with the environment prefix, and gracekit's own test variables.
// Without it, Load logs to
// slog.Default().
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) { o.logger = logger }
}

// WithoutEnv reads no environment variables.
func WithoutEnv() Option {
	return func(o *options) { o.env = false }
}

// WithFlags reads the flags of fs that were set on the command line and
// are named after a key path, such as --server.address or
// --server.maxHeaderBytes. fs must be parsed already. Its other flags (for
// instance -config) are left alone.
func WithFlags(fs *pflag.FlagSet) Option {
	return func(o *options) { o.flags, o.flagDash = fs, "--" }
}

// document is a configuration file already in memory.
type document struct {
	name, format string
	data         []byte
}

// withDocument reads a document from memory before the files, for tests
// and fuzzing.
func withDocument(name, format string, data []byte) Option {
	return func(o *options) { o.docs = append(o.docs, document{name, format, data}) }
}

// WithGoFlags is [WithFlags] for a FlagSet of the standard flag package:
// its flags named after key paths (-server.address) override the other
// sources when they were set on the command line. fs must be parsed
// already.
func WithGoFlags(fs *flag.FlagSet) Option {
	return func(o *options) {
		pf := pflag.NewFlagSet(fs.Name(), pflag.ContinueOnError)
		pf.AddGoFlagSet(fs)
		fs.Visit(func(f *flag.Flag) {
			if pfl := pf.Lookup(f.Name); pfl != nil {
				pfl.Changed = true
			}
		})
		o.flags, o.flagDash = pf, "-"
	}
}

// Load fills cfg from configuration files, environment variables and
// flags, over the values cfg already holds, which are the defaults: start
// from [Default], or from a struct of yours that embeds [Config] or its
// sections.
//
// The sources are read in this order, a later one overriding an earlier
// one key by key: the values in cfg, the files of [WithFiles], the
// environment variables (GRACEKIT_SERVER_MAX_HEADER_BYTES sets
// server.maxHeaderBytes; see [WithEnvPrefix]), the flags of [WithFlags]
// (see [AddFlags]). A variable that starts with the prefix but sets no key
// is a problem (a typo would otherwise go unnoticed), except the
// variables Kubernetes sets for a Service named like the prefix
// (GRACEKIT_SERVICE_HOST=10.0.0.1, GRACEKIT_PORT=tcp://10.0.0.1:80,
// GRACEKIT_PORT_80_TCP_ADDR=10.0.0.1 and the others of that family, for
// Services named gracekit or gracekit-anything), which are recognised by
// their names and values together, and the variables of gracekit's own
// test suite and CI (GRACEKIT_REQUIRE_TOOLS and the like): both are
// ignored, with a debug line (see [WithLogger]). A variable named after a key's with _FILE appended,
// such as GRACEKIT_DB_PASSWORD_FILE=/run/secrets/db, names a file that
// holds the value, one trailing newline removed; setting both is an
// error, and so is a file that cannot be read. A problem with such a
// value names its file, not the value.
//
// Files are held to limits ([MaxFileSize], [MaxDepth], [MaxKeys],
// [MaxAliasValues]): reading one takes time and memory in proportion to
// its size, and a file beyond them is refused with an error that names
// the limit.
//
// Every key must be known and every value of the right type, and every
// key tagged required (see [RequiredTag]) set by a source; then the rules
// of each section that implements [Validator] are checked. When
// anything is wrong, Load returns an *[Error] that lists every problem
// with its key, value, source and line, and leaves cfg unchanged. A file
// that cannot be read or parsed is reported alone, with the line and
// column of the mistake: the rules are not checked then, as they would
// judge the values the file failed to set.
//
// The fields of cfg are named by their koanf tags (the Go field name
// otherwise); an embedded struct without a key name, such as
// config.Config `koanf:",squash"`, brings its keys to its parent. Fields
// of type [Size], [Duration] and time.Duration read sizes and durations;
// fields with an UnmarshalText method read strings; lists read lists (or
// comma-separated text from the environment). Errors about the type of
// cfg itself are plain errors.
func Load[T any](cfg *T, opts ...Option) error {
	_, err := load(cfg, opts)
	return err
}

// LoadAny is [Load] for a configuration whose type is known only at run
// time, such as one built with reflect.StructOf: cfg is a pointer to a
// struct, held in an interface. It reads and checks the same way.
func LoadAny(cfg any, opts ...Option) error {
	_, err := load(cfg, opts)
	return err
}

// loadResult is what load learned on the way, for Check.
type loadResult struct {
	model   *node
	origins map[string]origin
	// secrets are the texts kept out of problems: secret values, and
	// values read from the files _FILE variables name.
	secrets []string
}

func load(cfg any, opts []Option) (*loadResult, error) {
	o := options{env: true, envPrefix: DefaultEnvPrefix, limits: defaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	rv := reflect.ValueOf(cfg)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: Load needs a pointer to a struct, got %T", cfg)
	}
	model, err := buildModel(rv.Elem().Type())
	if err != nil {
		return nil, err
	}

	var ps problems
	var layers []map[string]any
	var secrets []string // the text of the secret values, kept out of problems
	origins := map[string]origin{}
	read := func(l *layer) {
		secrets = append(secrets, secretTexts(model, l.data)...)
		secrets = append(secrets, fileValueTexts(model, l)...)
		vals, orgs := convert(model, l, &ps)
		layers = append(layers, vals)
		for k, v := range orgs {
			v.rank = ps.layer
			origins[k] = v
		}
	}
	// A file that cannot be read or parsed reports its own problems and
	// nothing more: the rules would judge the values it failed to set.
	unreadable := false
	for _, d := range o.docs {
		ps.layer++
		from := len(ps.list)
		if l := parseLayer(d.name, d.format, d.data, o.limits, &ps); l != nil {
			read(l)
		} else {
			unreadable = true
			hideSecretLines(model, d.data, ps.list[from:])
		}
	}
	for _, path := range o.files {
		ps.layer++
		from := len(ps.list)
		if l, data := fileLayer(path, o.limits, &ps); l != nil {
			read(l)
		} else {
			unreadable = true
			hideSecretLines(model, data, ps.list[from:])
		}
	}
	if o.env {
		ps.layer++
		environ := o.environ
		if environ == nil {
			environ = os.Environ()
		}
		l, ignored, err := envLayer(model, o.envPrefix, environ, o.limits, &ps)
		if err != nil {
			return nil, err
		}
		if len(ignored) > 0 {
			logger := o.logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Debug("config: ignored the variables Kubernetes sets for Services named like the environment prefix, and gracekit's own test variables", "variables", ignored)
		}
		read(l)
	}
	if o.flags != nil {
		ps.layer++
		l, err := flagLayer(model, o.flags, o.flagDash, o.envPrefix, &ps)
		if err != nil {
			return nil, err
		}
		read(l)
	}

	out := reflect.New(rv.Elem().Type())
	out.Elem().Set(rv.Elem())
	if err := decode(model, out, rv.Elem(), layers); err != nil {
		for _, p := range decodeProblems(err) {
			o := origins[p.Key]
			p.Source, p.Line, p.Column = o.source, o.pos.Line, o.pos.Column
			ps.addRanked(p, o.rank)
		}
	}
	var rules problems
	if !unreadable {
		validateAll(model, out.Elem(), &rules, func(key string) origin {
			if o, ok := origins[key]; ok {
				return o
			}
			return origin{source: "default"}
		})
		checkRequired(model, origins, o.envPrefix, &rules)
	}
	for _, p := range rules.list {
		// A value that was refused left the previous source's value in
		// place: rules about it would be beside the point.
		if !ps.hasKey(p.Key) {
			ps.addRanked(p, origins[p.Key].rank)
		}
	}
	secrets = append(secrets, secretTextsOf(model, out.Elem())...)
	ps.scrub(secrets)
	if err := ps.err(); err != nil {
		return nil, err
	}
	rv.Elem().Set(out.Elem())
	return &loadResult{model: model, origins: origins, secrets: secrets}, nil
}

// decode merges the defaults (the values of def) and the converted layers
// with koanf, and decodes the result into out, a pointer to a copy of the
// defaults.
func decode(model *node, out reflect.Value, def reflect.Value, layers []map[string]any) error {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(valuesMap(model, def), ""), nil); err != nil {
		return fmt.Errorf("config: merge the defaults: %w", err)
	}
	for _, l := range layers {
		if err := k.Load(confmap.Provider(l, ""), nil); err != nil {
			return fmt.Errorf("config: merge the settings: %w", err)
		}
	}
	return k.UnmarshalWithConf("", out.Interface(), koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook:  mapstructure.TextUnmarshallerHookFunc(),
			ErrorUnused: true,
			ZeroFields:  true,
			Squash:      true,
			MatchName:   func(mapKey, fieldName string) bool { return mapKey == fieldName },
		},
	})
}

// decodeProblems turns mapstructure's error, which starts "decoding failed
// due to the following error(s):", into one problem per key. The loader
// checks every value before decoding, so these are the loader's own bugs
// rather than the user's; they are still worded for users.
func decodeProblems(err error) []Problem {
	var out []Problem
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var de *mapstructure.DecodeError
		if errors.As(e, &de) {
			msg := de.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				msg = "unknown keys: " + keys
			} else {
				msg = "cannot be stored: " + plainMapstructure(msg)
			}
			out = append(out, Problem{Key: strings.TrimPrefix(de.Name(), "."), Message: msg})
			return
		}
		if strings.HasPrefix(e.Error(), "decoding failed") {
			if u := errors.Unwrap(e); u != nil {
				walk(u)
				return
			}
		}
		out = append(out, Problem{Message: plainMapstructure(e.Error())})
	}
	walk(err)
	return out
}

// plainMapstructure rewords a mapstructure message: 'x' quoting becomes
// "x", and "got unconvertible type" becomes "got".
func plainMapstructure(msg string) string {
	msg = strings.ReplaceAll(msg, "'", `"`)
	msg = strings.ReplaceAll(msg, "got unconvertible type", "got")
	return msg
}
