package http3

import (
	"context"
	"os"

	"github.com/gracekit/gracekit/graceful"
)

// lineage is what a Server needs of its Process beyond serving: a file
// handed to the later generations, the files of the older generations
// still alive, secrets shared by every generation, and the generation's
// number. *graceful.Process provides all of it; the interface lets the
// unit tests stand in for it.
type lineage interface {
	Generation() int
	PassOn(name string, f *os.File) error
	Inherited(name string) []graceful.InheritedFile
	Secret(name string) ([32]byte, error)
}

// lineageOf returns the lineage of p.
func lineageOf(p *graceful.Process) lineage { return p }

// handingOver reports whether a Shutdown's ctx belongs to a restart (a
// successor reads the socket) rather than a final stop.
func handingOver(ctx context.Context) bool { return graceful.HandingOver(ctx) }
