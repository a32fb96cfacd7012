//go:build linux

package earlysignal

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gracekit/gracekit/internal/proctest"
)

const helperEnv = "EARLYSIGNAL_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		proctest.BecomeSubreaper()
		os.Exit(m.Run())
	case "raise":
		os.Exit(raiseAndTake())
	default:
		fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// raiseAndTake sends its own process a restart signal once the package
// has caught them, and prints what TakeRestart returns.
func raiseAndTake() int {
	<-caught
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		fmt.Println("kill:", err)
		return 1
	}
	// Delivery is asynchronous: wait for the signal to reach the channel,
	// or for the process to have died of it (the failure this tests).
	for len(restart) == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("took %v\n", TakeRestart())
	return 0
}

// TestARestartSignalDuringTheStartIsKeptForTheProcess is the contract
// graceful relies on: in a process a handover started, a restart signal
// that arrives while it starts neither ends it nor is lost, whether init
// caught the signals itself (a supervisor's next image) or on a goroutine
// of its own (a new generation).
func TestARestartSignalDuringTheStartIsKeptForTheProcess(t *testing.T) {
	for _, role := range []string{"process", "supervisor"} {
		t.Run(role, func(t *testing.T) {
			g := proctest.Start(t, proctest.Options{
				Name: "earlysignal-" + role,
				Argv: []string{os.Args[0], "-test.run=^$"},
				Env:  append(os.Environ(), helperEnv+"=raise", HandoverEnv+`={"role":"`+role+`"}`),
			})
			status := g.WaitFirst(30 * time.Second)
			out := g.Output()
			if status != "exit status 0" || !strings.Contains(out, "took [hangup]") {
				t.Fatalf("helper ended with %q, output %q; want exit status 0 and the SIGHUP taken", status, out)
			}
		})
	}
}

// TestWithoutAHandoverNothingIsCaught: a process no handover started
// keeps the runtime's defaults, and TakeRestart returns at once.
func TestWithoutAHandoverNothingIsCaught(t *testing.T) {
	if _, ok := os.LookupEnv(HandoverEnv); ok {
		t.Skipf("%s is set in the test's environment", HandoverEnv)
	}
	select {
	case <-caught:
	default:
		t.Fatal("caught is open in a process no handover started")
	}
	if got := TakeRestart(); len(got) != 0 {
		t.Fatalf("TakeRestart = %v, want nothing", got)
	}
}
