package load

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Failure classes.
const (
	Refused = "refused"
	Reset   = "reset"
	EOF     = "eof"
	Timeout = "timeout"
	Status  = "non-2xx"
	Other   = "other"
)

// Classes lists the failure classes in report order.
var Classes = []string{Refused, Reset, EOF, Timeout, Status, Other}

// Classify names the class of a request error.
func Classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return Reset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EOF
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Other
}
