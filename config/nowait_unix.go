//go:build unix

package config

import "syscall"

// openNoWait opens a named pipe without waiting for a writer (see
// readLimited); regular files ignore it.
const openNoWait = syscall.O_NONBLOCK
