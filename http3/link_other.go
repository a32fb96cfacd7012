//go:build !unix

package http3

import (
	"errors"
	"os"
)

var errNoPairs = errors.New("this platform has no unix socket pairs: packets are not routed between generations")

func newPair() (own, passed *os.File, err error) { return nil, nil, errNoPairs }

func newLink(*os.File) (link, error) { return nil, errNoPairs }
