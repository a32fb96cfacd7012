package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gracekit/gracekit/bench/internal/build"
	"github.com/gracekit/gracekit/bench/internal/subject"
)

// gracekitPkg is the gracekit subject's main package in the root module:
// pointing the bench at another gracekit program is this one line.
const gracekitPkg = "./examples/reload"

// Subject names.
const (
	gracekit       = "gracekit"
	tableflip      = "tableflip"
	nethttp        = "nethttp"
	nethttpTimed   = "nethttp+timeouts"
	gracefulProc   = "graceful.Process"
	gracefulServer = "graceful.Server"
	// gracefulProcBase is graceful.Process built from the revision -base
	// names.
	gracefulProcBase = "graceful.Process@base"
)

// Config file contents every subject accepts or refuses at start. The
// invalid one is not YAML at all, so any config loader refuses it.
const (
	validConfig   = "# written by the bench driver\n{}\n"
	invalidConfig = "server: [this is not: valid yaml\n"
	// gracekitConfig turns rollback off (see probationNote).
	gracekitConfig = "# written by the bench driver\nprocess:\n  probation: 0s\n"
)

// probationNote says why the gracekit subjects run without rollback.
const probationNote = "Rollback is off (`process.probation: 0s`), as no other subject has one: with the default 5 s, each old generation keeps its sockets, not accepting, for 5 s after the handover so that it can serve again if the new one dies, and the one-restart-at-a-time loop waits for the old process to exit. Handover and drain, which the figures measure, are the same either way."

// catalog holds the built binaries and the subject specs.
type catalog struct {
	bins map[string]string
	// specs by name; gracekit is missing when its package does not exist.
	specs map[string]subject.Spec
	// gracekitMissing explains why gracekit is not measured, if it is not.
	gracekitMissing string
}

// buildAll builds everything into binDir. benchDir is the bench module,
// rootDir the repository root; base, when not empty, a git revision of it
// whose graceful.Process subject is built too (see buildBase).
func buildAll(binDir, benchDir, rootDir, base string) (*catalog, error) {
	targets := []build.Target{
		{Name: "reaper", Dir: benchDir, Pkg: "./cmd/reaper"},
		{Name: tableflip, Dir: benchDir, Pkg: "./subjects/tableflip"},
		{Name: nethttp, Dir: benchDir, Pkg: "./subjects/nethttp"},
		{Name: "gracefulserver", Dir: benchDir, Pkg: "./subjects/gracefulserver"},
		{Name: "gracefulprocess", Dir: benchDir, Pkg: "./subjects/gracefulprocess"},
		{Name: "fault-crash", Dir: benchDir, Pkg: "./subjects/fault", LDFlags: "-X main.mode=crash"},
		{Name: "fault-hang", Dir: benchDir, Pkg: "./subjects/fault", LDFlags: "-X main.mode=hang"},
	}
	c := &catalog{specs: map[string]subject.Spec{}}
	if build.Exists(rootDir, gracekitPkg) {
		targets = append(targets, build.Target{Name: gracekit, Dir: rootDir, Pkg: gracekitPkg})
	} else {
		c.gracekitMissing = fmt.Sprintf("%s does not exist in %s yet", gracekitPkg, rootDir)
	}
	bins, err := build.All(binDir, targets)
	if err != nil {
		return nil, err
	}
	c.bins = bins
	add := func(name, bin string, restartable bool) {
		c.specs[name] = subject.Spec{
			Name: name, Bin: bin, Restartable: restartable, ConfigFlag: subject.HasFlag(bin, "-config"),
			ValidConfig: validConfig, InvalidConfig: invalidConfig,
		}
	}
	if c.gracekitMissing == "" {
		add(gracekit, bins[gracekit], true)
		sp := c.specs[gracekit]
		sp.ValidConfig = gracekitConfig
		c.specs[gracekit] = sp
	}
	add(tableflip, bins[tableflip], true)
	add(nethttp, bins[nethttp], false)
	add(nethttpTimed, bins[nethttp], false)
	timed := c.specs[nethttpTimed]
	timed.Extra = []string{"-graceful-timeouts"}
	c.specs[nethttpTimed] = timed
	add(gracefulServer, filepath.Join(binDir, "gracefulserver"), false)
	add(gracefulProc, filepath.Join(binDir, "gracefulprocess"), false)
	if base != "" {
		// Named by its commit: "-base origin/main" must not put a slash
		// in a file name, and the results say what was measured.
		out, err := exec.Command("git", "-C", rootDir, "rev-parse", "--short", base+"^{commit}").Output()
		if err != nil {
			return nil, fmt.Errorf("-base %s: not a revision of %s: %w", base, rootDir, err)
		}
		rev := strings.TrimSpace(string(out))
		bin, err := buildBase(binDir, rootDir, rev)
		if err != nil {
			return nil, err
		}
		add(gracefulProcBase, bin, false)
		sp := c.specs[gracefulProcBase]
		sp.Name = gracefulProc + "@" + rev
		c.specs[gracefulProcBase] = sp
	}
	return c, nil
}

// buildBase builds the graceful.Process subject of revision rev of the
// repository at rootDir, from a worktree it removes afterwards: the
// subject's and the library's code as they were at rev.
func buildBase(binDir, rootDir, rev string) (string, error) {
	src := filepath.Join(filepath.Dir(binDir), "base-src")
	git := func(args ...string) error {
		cmd := exec.Command("git", append([]string{"-C", rootDir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("-base %s: git %s: %w: %s", rev, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := git("worktree", "add", "--detach", src, rev); err != nil {
		return "", err
	}
	defer func() { _ = git("worktree", "remove", "--force", src) }()
	name := "gracefulprocess-base"
	bins, err := build.All(binDir, []build.Target{{Name: name, Dir: filepath.Join(src, "bench"), Pkg: "./subjects/gracefulprocess"}})
	if err != nil {
		return "", fmt.Errorf("-base %s: %w", rev, err)
	}
	return bins[name], nil
}

// restartable returns the names of the subjects that restart, gracekit
// first.
func (c *catalog) restartable() []string {
	var out []string
	for _, n := range []string{gracekit, tableflip} {
		if _, ok := c.specs[n]; ok {
			out = append(out, n)
		}
	}
	return out
}
