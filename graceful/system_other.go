//go:build !unix

package graceful

import "log/slog"

func activationListeners(*slog.Logger) ([]inheritedListener, error) { return nil, nil }

func sdNotify(string) error { return nil }

func monotonicUsec() string { return "0" }

func processAlive(int) bool { return false }

func startChild(childSpec) (child, error) { return nil, ErrRestartNotSupported }
