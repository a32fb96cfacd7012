//go:build !unix

package graceful

import "time"

type link struct{}

func newLinkPair() (*link, int, error)                  { return nil, -1, ErrRestartNotSupported }
func openLink(int) (*link, error)                       { return nil, ErrRestartNotSupported }
func (l *link) send(linkMsg, ...int) error              { return errLinkClosed }
func (l *link) sendEncoded(string, []byte, []int) error { return errLinkClosed }
func (l *link) recv() (linkMsg, []int, error)           { return linkMsg{}, nil, errLinkClosed }
func (l *link) recvWithin(time.Duration) (linkMsg, []int, error) {
	return linkMsg{}, nil, errLinkClosed
}
func (l *link) close()           {}
func (l *link) fd() (int, error) { return -1, ErrRestartNotSupported }
