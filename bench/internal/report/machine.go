// Package report turns a run's measurements into bench/RESULTS.md and the
// timeline plot.
package report

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a run happened.
type Machine struct {
	Date, Kernel, CPU, Memory, Go, Commit, Wrk string
	Cores                                      int
	// Tools are the other outside programs and their versions.
	Tools [][2]string
}

// DescribeMachine reads the machine's description; rootDir is the
// repository, for the commit.
func DescribeMachine(rootDir, wrk string) Machine {
	m := Machine{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Cores: runtime.NumCPU(), Go: runtime.Version(), Wrk: wrk}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	m.CPU = firstField("/proc/cpuinfo", "model name")
	m.Memory = firstField("/proc/meminfo", "MemTotal")
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = rootDir
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	if m.Commit == "" {
		m.Commit = "unknown"
	}
	return m
}

// firstField returns the value of the first "key: value" line of path
// whose key is key.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "unknown"
}
