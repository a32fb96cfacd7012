// Command fault stands in for a broken new release in the failure
// scenarios: the driver installs it at the path of a subject's binary, so
// the next restart starts it instead of the subject. Built with
// -ldflags "-X main.mode=crash" it exits with status 3 during its
// initialisation; with "-X main.mode=hang" it never becomes ready and
// waits (at most MaxHang) to be killed.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// MaxHang bounds how long a hanging fault process lives when nobody kills
// it.
const MaxHang = 5 * time.Minute

var mode = "crash"

func main() {
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
