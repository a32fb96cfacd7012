// Package proc reads the Linux process table under /proc: parents,
// states, open descriptors and resident memory. The driver uses it to
// find the processes a subject left behind and the zombies it did not
// reap.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Proc is one entry of the process table.
type Proc struct {
	PID, PPID int
	// State is the one-letter state of /proc/PID/stat: R, S, D, Z, ...
	State byte
	// Comm is the command name, at most 15 bytes.
	Comm string
}

// Zombie reports whether the process has exited and waits to be reaped.
func (p Proc) Zombie() bool { return p.State == 'Z' || p.State == 'X' }

// String describes the process as pid(comm,state,ppid N).
func (p Proc) String() string {
	return fmt.Sprintf("%d(%s,%c,ppid %d)", p.PID, p.Comm, p.State, p.PPID)
}

// Stat reads /proc/PID/stat.
func Stat(pid int) (Proc, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, err
	}
	return parseStat(data)
}

// parseStat parses "pid (comm) S ppid ...", where comm may hold spaces and
// parentheses: it ends at the last ')'.
func parseStat(data []byte) (Proc, error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open || len(data) < end+4 {
		return Proc{}, fmt.Errorf("proc: malformed stat %q", data)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	if err != nil {
		return Proc{}, fmt.Errorf("proc: stat pid: %w", err)
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 2 {
		return Proc{}, fmt.Errorf("proc: malformed stat %q", data)
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return Proc{}, fmt.Errorf("proc: stat ppid: %w", err)
	}
	return Proc{PID: pid, PPID: ppid, State: fields[0][0], Comm: string(data[open+1 : end])}, nil
}

// PIDs lists the process IDs in /proc.
func PIDs() ([]int, error) {
	f, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	out := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// List returns every process that can be read. Processes that exit while
// the table is read are skipped.
func List() ([]Proc, error) {
	pids, err := PIDs()
	if err != nil {
		return nil, err
	}
	out := make([]Proc, 0, len(pids))
	for _, pid := range pids {
		p, err := Stat(pid)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Descendants returns every process whose chain of parents leads to root,
// root excluded, zombies included.
func Descendants(root int) ([]Proc, error) {
	all, err := List()
	if err != nil {
		return nil, err
	}
	children := map[int][]Proc{}
	for _, p := range all {
		children[p.PPID] = append(children[p.PPID], p)
	}
	var out []Proc
	queue := []int{root}
	for len(queue) > 0 && len(out) < len(all) {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.PID)
		}
	}
	return out, nil
}

// FDCount returns the number of open file descriptors of pid.
func FDCount(pid int) (int, error) {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, fmt.Errorf("proc: fds of %d: %w", pid, err)
	}
	return len(entries), nil
}

// RSSKiB returns the resident set size of pid in KiB (VmRSS).
func RSSKiB(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("proc: status of %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v)
			if len(fields) == 0 {
				break
			}
			n, err := strconv.Atoi(fields[0])
			if err != nil {
				return 0, fmt.Errorf("proc: VmRSS of %d: %w", pid, err)
			}
			return n, nil
		}
	}
	return 0, errors.New("proc: no VmRSS for " + strconv.Itoa(pid))
}
