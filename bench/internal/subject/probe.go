package subject

import (
	"time"

	"github.com/gracekit/gracekit/bench/internal/load"
)

func getRoot(addr string) (int, []byte, error) { return load.Get(addr, "/", time.Second) }

func parsePID(body []byte) int { return load.ParsePID(body) }
