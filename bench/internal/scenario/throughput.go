package scenario

import (
	"context"

	"github.com/gracekit/gracekit/bench/internal/extclient"
)

// WrkOptions tune a wrk run.
type WrkOptions = extclient.WrkOptions

// WrkResult is what one wrk run measured.
type WrkResult = extclient.WrkResult

// Wrk runs wrk against http://addr/ with keep-alive connections.
func Wrk(ctx context.Context, addr string, o WrkOptions) (WrkResult, error) {
	return extclient.Wrk(ctx, "http://"+addr+"/", o)
}

// WrkVersion returns wrk's version line, or why it cannot run.
func WrkVersion() string { return extclient.WrkVersion() }
