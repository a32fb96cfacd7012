//go:build unix && !linux

package graceful

import "errors"

func closeRangeCloexec(int) error { return errors.New("no close_range") }
