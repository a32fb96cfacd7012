package subject

import (
	"crypto/tls"
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
	"github.com/gracekit/gracekit/internal/loadgen"
)

func getRoot(addr string, cfg *tls.Config) (int, []byte, error) {
	return load.GetTLS(addr, "/", time.Second, cfg)
}

func parsePID(body []byte) int { return loadgen.ParsePID(body) }
