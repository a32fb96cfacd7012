package graceful

import "golang.org/x/sys/unix"

// anonFile makes an anonymous file in memory (close-on-exec).
func anonFile() (int, error) { return unix.MemfdCreate("gracekit-supervisor-state", unix.MFD_CLOEXEC) }
