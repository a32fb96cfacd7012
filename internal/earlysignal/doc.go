// Package earlysignal catches, from the earliest package initialization
// its import path allows, the signals a process started by a gracekit
// handover must not die of while it starts: the restart signals (whose
// default action ends a Go program) in every new generation, and the
// stop signals in a supervisor's next image (see graceful's
// reexec_supervisor.go), whose workers would lose their supervisor. It
// holds what it caught until the graceful package takes it. It imports
// nothing but the standard library's most basic packages, so that it is
// initialized before the heavier packages of the program: the Go runtime
// applies a default action to a signal nobody asked for until then.
//
// Package state, because the operating system makes it so: signal
// dispositions belong to the process.
package earlysignal
