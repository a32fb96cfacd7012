// Command fault stands in for a broken new release in the failure
// scenarios: the driver installs it at the path of a subject's binary, so
// the next restart starts it instead of the subject. Built with
// -ldflags "-X main.mode=crash" it exits with status 3 during its
// initialisation; with "-X main.mode=hang" it never becomes ready and
// waits (at most MaxHang) to be killed. Either way it first appends
// "PID MODE" to the file EventsFile beside its binary, so that the driver
// knows which process it was even when it lived for a millisecond.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// EventsFile is the file, in the directory of the binary, that the fault
// process announces itself in.
const EventsFile = "fault-events"

// MaxHang bounds how long a hanging fault process lives when nobody kills
// it.
const MaxHang = 5 * time.Minute

var mode = "crash"

func main() {
	announce()
	switch mode {
	case "hang":
		fmt.Fprintf(os.Stderr, "fault %d: hanging during initialisation\n", os.Getpid())
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-sigs:
		case <-time.After(MaxHang):
		}
		os.Exit(4)
	default:
		fmt.Fprintf(os.Stderr, "fault %d: crashing during initialisation\n", os.Getpid())
		os.Exit(3)
	}
}

// announce appends this process's pid and mode to EventsFile.
func announce() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(exe), EventsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%d %s\n", os.Getpid(), mode)
	_ = f.Close()
}
