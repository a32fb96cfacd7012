// Command reaper is the bench driver's stand-in for init: it makes itself
// a child subreaper (prctl PR_SET_CHILD_SUBREAPER), starts one subject,
// and from then on reaps every process of the subject's tree that ends up
// as its child, as systemd would for a service whose generations replace
// each other. It reports on standard output, one line each:
//
//	start PID
//	exit PID STATUS UNIXNANO
//
// When its standard input closes (the driver is done, or died) or it gets
// SIGTERM, it kills whatever is left of the tree, reaps it, prints
// "done KILLED" and exits.
//
//	reaper -log FILE -- BINARY ARGS...
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gracekit/gracekit/bench/internal/proc"
)

func main() {
	logPath := flag.String("log", "", "file that receives the subject's standard output and error (appended)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: reaper -log FILE -- BINARY ARGS...")
		os.Exit(2)
	}
	if err := run(*logPath, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "reaper:", err)
		os.Exit(1)
	}
}

func run(logPath string, argv []string) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming a subreaper: %w", err)
	}
	chld := make(chan os.Signal, 16)
	signal.Notify(chld, syscall.SIGCHLD)
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)

	out := bufio.NewWriter(os.Stdout)
	emit := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		_ = out.Flush()
	}

	logFile := os.Stderr
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("opening subject log: %w", err)
		}
		defer f.Close()
		logFile = f
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	p, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{devnull, logFile, logFile}})
	_ = devnull.Close()
	if err != nil {
		return fmt.Errorf("starting subject: %w", err)
	}
	emit("start %d", p.Pid)
	// The process is reaped below with wait4(-1); release Go's handle
	// without waiting on it.
	_ = p.Release()

	quit := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(quit)
	}()

	for {
		select {
		case <-chld:
			reapAll(emit)
		case <-quit:
			emit("done %d", cleanup(emit))
			return nil
		case <-term:
			emit("done %d", cleanup(emit))
			return nil
		}
	}
}

// reapAll reaps every child that has exited, without blocking.
func reapAll(emit func(string, ...any)) {
	for range 10000 {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		emit("exit %d %s %d", pid, describe(ws), time.Now().UnixNano())
	}
}

func describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "code=" + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal=" + unix.SignalName(ws.Signal())
	}
	return "status=" + strconv.Itoa(int(ws))
}

// cleanup kills every process left in the tree and reaps them; it returns
// how many it killed. It gives up after a bounded number of rounds.
func cleanup(emit func(string, ...any)) int {
	killed := map[int]bool{}
	self := os.Getpid()
	for range 200 {
		reapAll(emit)
		kids, err := proc.Descendants(self)
		if err != nil {
			return len(killed)
		}
		for _, k := range kids {
			if k.Zombie() {
				continue
			}
			if unix.Kill(k.PID, unix.SIGKILL) == nil {
				killed[k.PID] = true
			}
		}
		if len(kids) == 0 {
			return len(killed)
		}
		// Killed processes, and zombies whose parents are being killed,
		// need a moment before they are ours to reap.
		time.Sleep(5 * time.Millisecond)
	}
	return len(killed)
}
