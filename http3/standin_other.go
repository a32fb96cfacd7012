//go:build !linux

package http3

import (
	"context"
	"crypto/sha256"
	"os"

	"github.com/gracekit/gracekit/graceful"
)

// See standin_linux.go: outside Linux the stand-in routes nothing.

type inheritedFile struct {
	Generation int
	PID        int
	File       *os.File
}

type standIn struct{ p *graceful.Process }

func newStandIn(p *graceful.Process) *standIn       { return &standIn{p: p} }
func standInHandingOver(context.Context) bool       { return false }
func (s *standIn) Generation() int                  { return s.p.Generation() }
func (s *standIn) PassOn(string, *os.File) error    { return nil }
func (s *standIn) Inherited(string) []inheritedFile { return nil }
func (s *standIn) Secret(name string) ([32]byte, error) {
	return sha256.Sum256([]byte("gracekit http3 stand-in secret\x00" + name)), nil
}
