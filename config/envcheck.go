package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/gracekit/gracekit/graceful"
)

// The checks of this file look at the machine, not at the values alone:
// Check runs them (Load does not), so that what -t accepts starts here,
// as nginx -t loads its certificates.

// environmentChecker is a section whose values name files or accounts of
// the machine that Check looks at.
type environmentChecker interface {
	checkEnvironment() []Problem
}

// checkEnvironment runs the environment checks of every section of root
// that has them, with the problems placed as Load places a rule's.
func checkEnvironment(model *node, root reflect.Value, ps *problems, where func(key string) origin) {
	forSections(model, root, func(sec *node, c environmentChecker) {
		for _, p := range c.checkEnvironment() {
			if len(sec.path) > 0 {
				p.Key = sec.dotted() + "." + p.Key
			}
			o := where(p.Key)
			p.Source, p.Line, p.Column = o.source, o.pos.Line, o.pos.Column
			ps.add(p)
		}
	})
}

// checkEnvironment loads the certificate and its key, and looks up a
// unix socket group given by name.
func (s Server) checkEnvironment() []Problem {
	var ps []Problem
	if s.CertFile != "" && s.KeyFile != "" {
		if _, err := graceful.LoadKeyPair(s.CertFile, s.KeyFile); err != nil {
			ps = append(ps, Problem{Key: "certFile", Message: fmt.Sprintf("the servers could not load the certificate: %v", err)})
		}
	}
	if g := s.UnixSocketGroup; g != "" && strings.Trim(g, "+-0123456789") != "" {
		if _, err := user.LookupGroup(g); err != nil {
			ps = append(ps, Problem{Key: "unixSocketGroup", Message: fmt.Sprintf("%q: %v: name a group of this machine, or give its number", g, err)})
		}
	}
	return ps
}

// checkEnvironment checks that the PID file's directory exists.
func (p Process) checkEnvironment() []Problem {
	if p.PIDFile == "" {
		return nil
	}
	dir := filepath.Dir(p.PIDFile)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return []Problem{{Key: "pidFile", Message: fmt.Sprintf("%q: its directory %s cannot be used (%v): create it, or name a file in one that exists, such as /run", p.PIDFile, dir, err)}}
	case !fi.IsDir():
		return []Problem{{Key: "pidFile", Message: fmt.Sprintf("%q: %s is not a directory", p.PIDFile, dir)}}
	}
	return nil
}
