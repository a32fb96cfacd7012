package main

import (
	"errors"
	"time"
)

func (r *runner) full(benchDir, rootDir string, started time.Time) error {
	return errors.New("full mode: not yet")
}
