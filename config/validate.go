package config

import (
	"fmt"
	"math"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gracekit/gracekit/graceful"
	"github.com/gracekit/gracekit/internal/suggest"
)

// Validator is implemented by configuration sections that have rules of
// their own, beyond the types of their fields. [Load] calls Validate on
// every section after decoding, with the values of all sources merged.
//
// Validate returns one Problem per broken rule, with Key relative to the
// section (such as "greeting") and a Message that includes the offending
// value and says what is accepted. Load adds the section's path to Key and
// fills in Value, Source and Line. Implement it on the value receiver.
type Validator interface {
	Validate() []Problem
}

// Validate checks the rules of every section of cfg (a struct or a pointer
// to one) that implements [Validator], as [Load] does after reading the
// sources. It returns an *[Error] listing the problems, or nil. It cannot
// tell whether a required key (see [RequiredTag]) was set: only Load
// knows the sources.
func Validate(cfg any) error {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if !v.IsValid() {
		return fmt.Errorf("config: Validate needs a struct, got %T", cfg)
	}
	model, err := buildModel(v.Type())
	if err != nil {
		return err
	}
	var ps problems
	validateAll(model, v, &ps, nil)
	ps.scrub(secretTextsOf(model, v))
	return ps.err()
}

// validateAll applies the rules of every section of the struct value root,
// and checks that no size or duration is negative. where, when not nil,
// tells where a key's value came from.
func validateAll(model *node, root reflect.Value, ps *problems, where func(key string) origin) {
	add := func(p Problem) {
		if where != nil {
			o := where(p.Key)
			p.Source, p.Line, p.Column = o.source, o.pos.Line, o.pos.Column
		}
		ps.add(p)
	}
	model.leaves(func(n *node) {
		if n.kind != kindSize && n.kind != kindDuration {
			return
		}
		v := fieldValue(root, n, model)
		if v.Int() < 0 {
			p := Problem{Key: n.dotted(), Value: show(fileValue(n, v)), Message: fmt.Sprintf("%s is negative: it must be 0 or more", show(fileValue(n, v)))}
			if n.secret {
				p.Value, p.Message = "", "the value is negative: it must be 0 or more"
			}
			add(p)
		}
	})
	forSections(model, root, func(sec *node, r Validator) {
		for _, p := range r.Validate() {
			if len(sec.path) > 0 {
				p.Key = sec.dotted() + "." + p.Key
			}
			if p.Value == "" {
				if leaf := findLeaf(model, p.Key); leaf != nil && !leaf.secret {
					p.Value = show(fileValue(leaf, fieldValue(root, leaf, model)))
				}
			}
			add(p)
		}
	})
}

// checkRequired reports the settings tagged required (see [RequiredTag])
// that no source set.
func checkRequired(model *node, origins map[string]origin, envPrefix string, ps *problems) {
	model.leaves(func(n *node) {
		if _, set := origins[n.dotted()]; set || !n.required {
			return
		}
		env := envName(envPrefix, n.path)
		msg := fmt.Sprintf("is required, and nothing sets it: write it in the configuration file, or set %s", env)
		if n.secret {
			msg = fmt.Sprintf("is required, and nothing sets it: set %s to a file that holds it, or %s", env+fileSuffix, env)
		}
		ps.add(Problem{Key: n.dotted(), Message: msg})
	})
}

// findLeaf returns the setting with the dotted key path, or nil.
func findLeaf(model *node, key string) *node {
	n := model
	for k := range strings.SplitSeq(key, ".") {
		if n = n.child(k); n == nil {
			return nil
		}
	}
	return n
}

// SocketModePattern is what server.unixSocketMode accepts: an octal
// permission mode of three digits, optionally after a 0 or 0o ("660",
// "0660", "0o660").
const SocketModePattern = `^(?:0o)?0?[0-7]{3}$`

var socketModeRE = lazyRegexp(SocketModePattern)

// Validate checks the addresses, the TLS files, the unix socket
// permissions and the header limit.
func (s Server) Validate() []Problem {
	var ps []Problem
	add := func(key, msg string) { ps = append(ps, Problem{Key: key, Message: msg}) }
	if msg := checkAddress(s.Address); msg != "" {
		add("address", msg)
	}
	if s.HTTPSAddress != "" {
		if msg := checkAddress(s.HTTPSAddress); msg != "" {
			add("httpsAddress", msg)
		} else if sameSocket(s.HTTPSAddress, s.Address) {
			msg := fmt.Sprintf("%q is also the HTTP address: the HTTP and HTTPS servers need addresses of their own", s.HTTPSAddress)
			if a, _ := graceful.ParseAddress(s.Address); a.Network == "tcp" && a.Port == 0 {
				msg += " (a process names its sockets by address, port 0 included: give one of them another host, or a port)"
			}
			add("httpsAddress", msg)
		}
	}
	switch {
	case s.CertFile != "" && s.KeyFile == "":
		add("certFile", fmt.Sprintf("%q is set but keyFile is empty: a certificate needs its private key; set both or neither", s.CertFile))
	case s.KeyFile != "" && s.CertFile == "":
		add("keyFile", fmt.Sprintf("%q is set but certFile is empty: a private key needs its certificate; set both or neither", s.KeyFile))
	case s.HTTPSAddress != "" && s.CertFile == "":
		add("httpsAddress", fmt.Sprintf("%q is set but certFile and keyFile are empty: HTTPS needs a certificate and its key; set both, or leave httpsAddress empty", s.HTTPSAddress))
	}
	if s.UnixSocketMode != "" && !socketModeRE().MatchString(s.UnixSocketMode) {
		add("unixSocketMode", fmt.Sprintf("%q is not a permission mode: write it in octal, as a string, such as \"0660\" (owner and group may connect) or \"0600\" (the owner only)", s.UnixSocketMode))
	}
	if g := s.UnixSocketGroup; g != "" && strings.TrimSpace(g) != g {
		add("unixSocketGroup", fmt.Sprintf("%q has spaces around the group name", g))
	} else if digits := strings.TrimLeft(g, "+-"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		if n, err := strconv.ParseInt(g, 10, 64); err != nil || n < 0 || n > 1<<32-2 {
			add("unixSocketGroup", fmt.Sprintf("%q is not a group ID: write a number from 0 to 4294967294, or a group name", g))
		}
	}
	if uint64(s.MaxHeaderBytes) > math.MaxInt && s.MaxHeaderBytes > 0 {
		add("maxHeaderBytes", fmt.Sprintf("%d bytes is too large for this platform: the largest is %d", int64(s.MaxHeaderBytes), math.MaxInt))
	}
	return ps
}

// documentRules are the rules about keys a file writes together, which a
// JSON Schema states with dependentRequired: a file that sets certFile,
// keyFile or httpsAddress also sets the others it needs, even when a
// later source would fill them in.
func (Server) documentRules(present func(string) bool) []Problem {
	var ps []Problem
	cert, key, https := present("certFile"), present("keyFile"), present("httpsAddress")
	switch {
	case cert && !key:
		ps = append(ps, Problem{Key: "certFile", Message: "certFile is in this file without keyFile: a file that sets one of them sets both"})
	case key && !cert:
		ps = append(ps, Problem{Key: "keyFile", Message: "keyFile is in this file without certFile: a file that sets one of them sets both"})
	case https && !cert:
		ps = append(ps, Problem{Key: "httpsAddress", Message: "httpsAddress is in this file without certFile and keyFile: a file that sets httpsAddress sets all three"})
	}
	return ps
}

// Validate checks the restart mode and signal, the generation limit and
// the health endpoint paths.
func (p Process) Validate() []Problem {
	var ps []Problem
	add := func(key, msg string) { ps = append(ps, Problem{Key: key, Message: msg}) }
	modes := make([]string, 0, 2)
	for _, m := range graceful.RestartModes() {
		modes = append(modes, string(m))
	}
	if msg := checkEnum(string(p.Mode), "restart mode", modes); msg != "" {
		add("mode", msg)
	}
	if msg := checkSignal(p.RestartSignal); msg != "" {
		add("restartSignal", msg)
	}
	if p.MaxGenerations < 2 {
		add("maxGenerations", fmt.Sprintf("%d is too few: at least 2 generations (the serving one and one draining) must be allowed", p.MaxGenerations))
	}
	for _, f := range []struct{ key, path string }{{"readinessPath", p.ReadinessPath}, {"livenessPath", p.LivenessPath}, {"metricsPath", p.MetricsPath}} {
		if msg := checkURLPath(f.path, strings.TrimSuffix(f.key, "Path")); msg != "" {
			add(f.key, msg)
		}
	}
	if p.ReadinessPath != "" && p.ReadinessPath == p.LivenessPath {
		add("livenessPath", fmt.Sprintf("%q is also the readinessPath: the two endpoints answer differently, so they need paths of their own", p.LivenessPath))
	}
	if p.MetricsPath != "" && (p.MetricsPath == p.ReadinessPath || p.MetricsPath == p.LivenessPath) {
		add("metricsPath", fmt.Sprintf("%q is also a health endpoint's path: metrics need a path of their own", p.MetricsPath))
	}
	return ps
}

// checkSignal returns what is wrong with a restart signal name, or "".
func checkSignal(name string) string {
	names := graceful.RestartSignalNames()
	if slices.Contains(names, name) {
		return ""
	}
	if name == "SIGTERM" || name == "SIGINT" {
		return fmt.Sprintf("%q always means a graceful shutdown, so it cannot trigger a restart: use %s", name, quoteList(names))
	}
	msg := fmt.Sprintf("%q is not a restart signal", name)
	s := suggest.Closest(name, names)
	if s == "" {
		s = suggest.Closest("SIG"+strings.ToUpper(name), names)
	}
	if s != "" {
		return msg + fmt.Sprintf(": did you mean %q?", s)
	}
	return msg + ": use " + quoteList(names)
}

// checkEnum returns what is wrong with a value that must be one of names,
// or "".
func checkEnum(value, what string, names []string) string {
	if slices.Contains(names, value) {
		return ""
	}
	msg := fmt.Sprintf("%q is not a %s", value, what)
	if s := suggest.Closest(value, names); s != "" {
		return msg + fmt.Sprintf(": did you mean %q?", s)
	}
	return msg + ": use " + quoteList(names)
}

// Validate checks the level and the format.
func (l Log) Validate() []Problem {
	var ps []Problem
	if msg := checkEnum(l.Level, "log level", LogLevels()); msg != "" {
		ps = append(ps, Problem{Key: "level", Message: msg})
	}
	if msg := checkEnum(l.Format, "log format", LogFormats()); msg != "" {
		ps = append(ps, Problem{Key: "format", Message: msg})
	}
	return ps
}

// checkURLPath checks the path of an endpoint (name: "readiness", ...):
// empty (none), or a plain URL path other than the root, which the
// servers match exactly and a program may give to http.ServeMux as a
// pattern: no wildcards ({name}), spaces, query or fragment, and no
// segment that a client's path would be cleaned of.
func checkURLPath(p, name string) string {
	if p == "" {
		return ""
	}
	example := "/" + name
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~!$&'()*+,;=:@", c)) {
			return fmt.Sprintf("%q holds %q, which this setting does not take: write a plain URL path of letters, digits and /-._~ such as %q, or leave it empty for none", p, c, example)
		}
	}
	switch cleaned := path.Clean(p); {
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q does not start with \"/\": write a URL path such as \"/%s\", or leave it empty for none", p, p)
	case p == "/":
		return fmt.Sprintf("\"/\" is the root of every server: the endpoint needs a path of its own, such as %q", example)
	case cleaned != p && cleaned+"/" != p:
		return fmt.Sprintf("%q is not a clean path (a client's request for it is redirected to %q): write %q", p, cleaned, cleaned)
	}
	return ""
}

// forSections calls fn with each section of root (root itself first)
// whose value implements I.
func forSections[I any](model *node, root reflect.Value, fn func(sec *node, v I)) {
	model.sections(func(sec *node) {
		val := root
		if len(sec.path) > 0 {
			val = fieldValue(root, sec, model)
		}
		if v, ok := val.Interface().(I); ok {
			fn(sec, v)
		}
	})
}
